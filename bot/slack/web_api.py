"""The Slack Web API behind the outbox: slack_sdk's WebClient, and its WebhookClient for
replies to a request's response_url, failures classified."""

from __future__ import annotations

import base64
import http.client
import math
import urllib.error
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from bot.domain.model import RESPONSE_URL
from bot.services.delivery import DeliveryFailed
from bot.slack.notices import UPLOAD

# ok:false errors worth trying again; any other one will not go away by itself.
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# Errors that mean the call's purpose is already met.
HARMLESS = frozenset({"already_in_channel", "method_not_supported_for_channel_type"})
# Seconds a post to a response_url may take.
RESPONSE_URL_TIMEOUT = 10


class WebApi:
    """Implements services.delivery.SlackApi over a WebClient that it is given (a reply to
    a response_url goes through post_response)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == RESPONSE_URL:
            return post_response(payload)
        try:
            if method == UPLOAD:
                return self._upload(payload)
            response = self.client.api_call(method, json=payload)
        except SlackApiError as exc:
            error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
            if method == "conversations.join" and error in HARMLESS:
                return {"ok": True}
            raise _classify(exc, str(error)) from exc
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            raise DeliveryFailed(f"network: {exc}") from exc
        return dict(response.data) if isinstance(response.data, dict) else {"ok": True}

    def _upload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A file into a channel (and thread) by the v2 flow: upload URL, upload, complete.

        A failure between the steps is retried from the start (a timeout after Slack
        completed the upload can post the chart twice: delivery is at least once).
        """
        channel = str(payload["channel"])
        if channel[:1] in ("U", "W"):
            # A file goes to a conversation: a direct message's channel, not the user's id.
            opened = self.client.conversations_open(users=channel)
            channel = str((opened.get("channel") or {}).get("id") or channel)
        try:
            response = self.client.files_upload_v2(
                channel=channel,
                thread_ts=payload.get("thread_ts"),
                content=base64.b64decode(payload["content_b64"]),
                filename=payload.get("filename", "chart.png"),
                title=payload.get("title"),
            )
        except SlackRequestError as exc:  # the upload URL answered other than 200
            raise DeliveryFailed(f"upload: {exc}") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise DeliveryFailed(f"upload: network: {exc}") from exc
        files = response.get("files") or [{}]
        return {"ok": True, "file": files[0].get("id")}


def post_response(payload: dict[str, Any], timeout: int = RESPONSE_URL_TIMEOUT) -> dict[str, Any]:
    """POST a reply to its response_url (``payload["url"]``); raise DeliveryFailed as the
    Web API calls do: HTTP 429 and 5xx, or the network failing, are worth trying again."""
    body = dict(payload)
    url = str(body.pop("url"))
    if not url.startswith(("https://", "http://")):  # a malformed request's response_url
        raise DeliveryFailed("response_url: not an http(s) URL", permanent=True)
    # One attempt: the outbox retries with backoff, and the inbox hands a failed post to it.
    client = WebhookClient(url, timeout=timeout, retry_handlers=[])
    try:
        response = client.send_dict(body)  # an HTTP error status is answered, not raised
    except (OSError, http.client.HTTPException) as exc:  # timeouts and refusals are OSErrors
        raise DeliveryFailed(f"response_url: network: {exc}") from exc
    except UnicodeDecodeError as exc:  # an answer that is not text: not Slack's
        raise DeliveryFailed(f"response_url: unreadable answer: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return {"ok": True}
    if status == 429 or status >= 500:
        wait = _retry_after(response.headers, default=None)
        raise DeliveryFailed(f"response_url: HTTP {status}", retry_after=wait)
    # 404 expired_url, 410, 400 invalid_payload: trying again will not help.
    raise DeliveryFailed(f"response_url: HTTP {status}", permanent=True)


def _classify(exc: SlackApiError, error: str) -> DeliveryFailed:
    status = exc.response.status_code
    if status == 429:
        retry_after = _retry_after(exc.response.headers, default=1.0)
        return DeliveryFailed("ratelimited", retry_after=retry_after)
    if status >= 500:
        return DeliveryFailed(f"HTTP {status} {error}".strip())
    # An unknown error retried for a day would hold back the channel's later messages.
    permanent = error not in TRANSIENT or 400 <= status < 500
    return DeliveryFailed(error or f"HTTP {status}", permanent=permanent)


def _retry_after(headers: Mapping[str, Any], default: float | None) -> float | None:
    """The seconds a Retry-After header asks for (0 at least); ``default`` without one
    that is a number. Headers come as sent (any case), a value possibly in a list."""
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, seconds) if math.isfinite(seconds) else default

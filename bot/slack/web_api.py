"""The Slack Web API behind the outbox: slack_sdk's WebClient, failures classified."""

from __future__ import annotations

import base64
import http.client
import urllib.error
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.services.delivery import DeliveryFailed
from bot.slack.notices import UPLOAD

# ok:false errors worth trying again; any other one will not go away by itself.
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# Errors that mean the call's purpose is already met.
HARMLESS = frozenset({"already_in_channel", "method_not_supported_for_channel_type"})


class WebApi:
    """Implements services.delivery.SlackApi over a WebClient that it is given."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
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


def _classify(exc: SlackApiError, error: str) -> DeliveryFailed:
    status = exc.response.status_code
    if status == 429:
        headers = {k.lower(): v for k, v in exc.response.headers.items()}
        retry_after = headers.get("retry-after", "1")
        if isinstance(retry_after, list):
            retry_after = retry_after[0]
        return DeliveryFailed("ratelimited", retry_after=_seconds(str(retry_after)))
    if status >= 500:
        return DeliveryFailed(f"HTTP {status} {error}".strip())
    # An unknown error retried for a day would hold back the channel's later messages.
    permanent = error not in TRANSIENT or 400 <= status < 500
    return DeliveryFailed(error or f"HTTP {status}", permanent=permanent)


def _seconds(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0

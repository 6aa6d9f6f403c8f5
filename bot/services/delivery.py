"""Delivering the outbox: in order per channel, honouring Retry-After, backing off on failure."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from storage.outbox import OutboxStore, PendingMessage

log = logging.getLogger(__name__)
# The outbox method of a reply to a slash command's or a button's response_url: the
# payload is {"url": ..., **body}, POSTed as JSON (the URL takes 5 posts in 30 minutes).
RESPONSE_URL = "response_url"


@dataclass
class DeliveryFailed(Exception):
    """A Slack call failed; ``retry_after`` (seconds) when Slack said when to come back."""

    reason: str
    retry_after: float | None = None
    permanent: bool = False


class SlackApi(Protocol):
    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call a Web API method; raise DeliveryFailed when it did not succeed."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 1.0
    max_delay: float = 300.0
    min_delay: float = 1.0
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, attempts)))


def post_response(payload: dict[str, Any]) -> dict[str, Any]:
    """POST a reply to its response_url; raise DeliveryFailed as the Web API calls do."""
    body = dict(payload)
    url = str(body.pop("url"))
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 429 or exc.code >= 500:
            wait = _seconds(exc.headers.get("Retry-After"))
            raise DeliveryFailed(f"response_url: HTTP {exc.code}", retry_after=wait) from exc
        # 404 expired_url, 410, 400 invalid_payload: trying again will not help.
        raise DeliveryFailed(f"response_url: HTTP {exc.code}", permanent=True) from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
        raise DeliveryFailed(f"response_url: network: {exc}") from exc
    return {"ok": True}


def _seconds(retry_after: str | None) -> float | None:
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None


class OutboxDispatcher:
    """Delivers due messages; safe to run in any number of processes at once."""

    def __init__(
        self,
        store: OutboxStore,
        slack: SlackApi,
        clock: Callable[[], datetime],
        policy: RetryPolicy = RetryPolicy(),
        respond: Callable[[dict[str, Any]], dict[str, Any]] = post_response,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.policy = policy
        self.respond = respond

    def deliver_due(self, budget: int = 500, stopping: Callable[[], bool] = lambda: False) -> int:
        """Deliver what is due now, channel heads first; returns how many were sent.

        ``stopping`` is asked between messages, so a shutdown does not wait for a backlog.
        """
        sent = 0
        while budget > 0 and not stopping():
            # One at a time, sent as soon as leased: a stop never leaves a message leased
            # and unsent, and one held by a killed process waits one lease (30 s).
            batch = self.store.lease_heads(self.clock(), limit=1)
            if not batch:
                return sent
            for message in batch:
                budget -= 1
                sent += self._deliver(message)
        return sent

    def _deliver(self, message: PendingMessage) -> int:
        payload = dict(message.payload)
        if message.method == "chat.update" and message.ref is not None:
            ts = self.store.ts_of(message.ref)
            if ts is None:
                self.store.give_up(message, f"the message {message.ref} was never posted")
                return 0
            payload["ts"] = ts
        parent = payload.pop("thread_ref", None)
        if parent is not None:
            # A reply in the thread of an earlier message of this channel (sent before it,
            # as the channel's messages go out in order); top level if that one never went.
            thread_ts = self.store.ts_of(str(parent))
            if thread_ts is not None:
                payload["thread_ts"] = thread_ts
        if message.experiment_id is not None and not message.thread_root and "ts" not in payload:
            thread = self.store.thread_ts(message.experiment_id)
            if message.method == "chat.update":
                if thread is None:
                    self.store.give_up(message, "the experiment's thread was never posted")
                    return 0
                payload["ts"] = thread
            elif thread is not None:
                payload["thread_ts"] = thread
        try:
            if message.method == RESPONSE_URL:
                result = self.respond(payload)
            else:
                result = self.slack.call(message.method, payload)
        except DeliveryFailed as failure:
            self._failed(message, failure)
            return 0
        ts = result.get("ts") or result.get("message_ts")
        self.store.delivered(message, self.clock(), str(ts) if ts else None)
        return 1

    def _failed(self, message: PendingMessage, failure: DeliveryFailed) -> None:
        now = self.clock()
        too_old = now - message.created_at > self.policy.give_up_after
        if failure.permanent or too_old:
            log.error(
                "outbox: giving up on message %s (%s %s): %s",
                message.id,
                message.method,
                message.channel,
                failure.reason,
            )
            self.store.give_up(message, failure.reason)
            return
        delay = failure.retry_after
        if delay is None:
            delay = self.policy.delay(message.attempts)
        # Retry-After: 0 must not spin through the whole round on one message.
        delay = max(delay, self.policy.min_delay)
        log.warning(
            "outbox: %s to %s failed (%s); retrying in %.1fs",
            message.method,
            message.channel,
            failure.reason,
            delay,
        )
        self.store.retry_later(message, now + timedelta(seconds=delay), failure.reason)


class OutboxWorker:
    """A background thread that delivers as soon as changes commit, and polls as a fallback."""

    def __init__(self, dispatcher: OutboxDispatcher, poll_seconds: float = 1.0) -> None:
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlgov-outbox", daemon=True)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> OutboxWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.dispatcher.deliver_due(stopping=self._stop.is_set)
            except Exception:  # keep delivering after a database hiccup
                log.exception("outbox: delivery round failed")

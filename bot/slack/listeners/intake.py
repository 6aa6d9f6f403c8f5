"""The ack path: store a Slack request in the inbox, then acknowledge it.

Nothing else runs before the ack, so acks stay as fast as a bare Bolt app's; workers
(bot.services.inbox_worker) run the stored requests. Concurrent requests share one
INSERT transaction (storage.inbox.InboxWriter). If the request cannot be stored (the
database is down, or busy past storage.inbox.ACK_WAIT_S), it is not acknowledged: the
listener answers 503, so Slack shows the user that the command or button failed (nothing
was done; they may try again) and redelivers an event. Form submissions are not stored:
see listeners.views."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from slack_bolt import Ack, BoltResponse

from bot.slack.inbox_replies import answered_by_form
from storage.inbox import InboxWriter
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
NOT_STORED = "mlgov could not store this request (database unavailable); nothing was done."
_arrivals = threading.local()


@contextmanager
def arriving(moment: float) -> Iterator[None]:
    """While this thread answers a request that arrived at ``moment`` (time.monotonic()):
    bot.slack.http's guard around Bolt (listeners run on the request's thread). The
    request may have waited for a thread; its time to be stored counts from ``moment``."""
    _arrivals.moment = moment
    try:
        yield
    finally:
        _arrivals.moment = None


def arrival() -> float | None:
    """When the request this thread answers arrived (None outside the guard: Socket Mode)."""
    moment: float | None = getattr(_arrivals, "moment", None)
    return moment


class Intake:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.writer = InboxWriter(db)
        self.clock = clock

    def take(
        self, ack: Ack, kind: str, team_id: str, key: str, body: dict[str, Any]
    ) -> BoltResponse | None:
        """Store the request, then ack (a repeated delivery stores nothing and is acked);
        a 503 instead of the ack when it could not be stored in time."""
        urgent = answered_by_form(kind, body)  # a form to open within 3 s: runs first
        problem = self.writer.add(
            team_id, key, kind, stored(body), self.clock(), urgent, since=arrival()
        )
        if problem:
            log.error("inbox: a %s could not be stored, answering 503: %s", kind, problem)
            return BoltResponse(status=503, body=NOT_STORED)
        ack()
        return None


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a request: all but Slack's legacy verification ``token``, a secret
    of the app that rows kept for days have no use for."""
    return {name: value for name, value in body.items() if name != "token"}


def request_key(team_id: str, user_id: str, trigger_id: str, body: dict[str, Any]) -> str:
    """The identity of a command or interaction delivery (Slack gives them no id)."""
    canonical = json.dumps(stored(body), sort_keys=True, separators=(",", ":"))
    text = "\n".join((team_id, user_id, trigger_id, canonical))
    return hashlib.sha256(text.encode()).hexdigest()

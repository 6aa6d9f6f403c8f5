"""Delivering the outbox: in order per channel, honouring Retry-After, backing off on failure."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.domain.model import SCRUB_AFTER_DELIVERY
from bot.services.channel_access import CHANNEL_ERRORS, JOINABLE, channel_refused
from bot.services.installs import (
    AUTH_ERRORS,
    pause_workspace,
    paused_teams,
    tell_operator_paused,
    token_works,
)
from storage.outbox import OutboxStore, PendingMessage
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
# A message being sent has its lease (OutboxStore's, 10 s) renewed this often, by a thread
# of this name (it reads the dispatcher's clock too).
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_THREAD = "mlgov-outbox-lease"


@dataclass
class DeliveryFailed(Exception):
    """A Slack call failed; ``retry_after`` (seconds) when Slack said when to come back."""

    reason: str
    retry_after: float | None = None
    permanent: bool = False


class SlackApi(Protocol):
    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call a Web API method (RESPONSE_URL: post to ``payload["url"]``); raise
        DeliveryFailed when it did not succeed."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 1.0
    max_delay: float = 300.0
    min_delay: float = 1.0
    give_up_after: timedelta = timedelta(hours=24)
    # While a workspace is paused, how often auth.test asks whether its token works again.
    probe_paused_every: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, attempts)))


class OutboxDispatcher:
    """Delivers due messages; safe to run in any number of processes at once."""

    def __init__(
        self,
        store: OutboxStore,
        slack: SlackApi,
        clock: Callable[[], datetime],
        policy: RetryPolicy = RetryPolicy(),
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.store = store
        self.heartbeat_seconds = heartbeat_seconds
        self.slack = slack
        self.clock = clock
        self.policy = policy
        self._probed_at: datetime | None = None
        # Found during this round: (team, method) rate-limited until, or (team, None) paused.
        # Messages of the same lease batch wait too instead of meeting the same refusal.
        self._waiting: dict[tuple[str, str | None], datetime] = {}

    def deliver_due(self, budget: int = 500, stopping: Callable[[], bool] = lambda: False) -> int:
        """Deliver what is due now, channel heads first; returns how many were sent.

        ``stopping`` is asked between messages, so a shutdown does not wait for a backlog.
        """
        sent = 0
        self._waiting = {}
        self._probe_paused()
        heartbeat: _Heartbeat | None = None
        try:
            while budget > 0 and not stopping():
                # One at a time, sent as soon as leased: a stop never leaves a message leased
                # and unsent, and one held by a killed process waits one lease (10 s).
                batch = self.store.lease_heads(self.clock(), limit=1)
                if not batch:
                    return sent
                if heartbeat is None:  # most rounds lease nothing and start no thread
                    heartbeat = _Heartbeat(self.store, self.clock, self.heartbeat_seconds)
                for message in batch:
                    budget -= 1
                    wait = self._waiting.get((message.team_id, message.method)) or (
                        self._waiting.get((message.team_id, None))
                    )
                    if wait is not None:
                        self.store.release(message, wait)
                        continue
                    with heartbeat.holding(message.id):
                        sent += self._deliver(message)
            return sent
        finally:
            if heartbeat is not None:
                heartbeat.stop()

    def _probe_paused(self) -> None:
        """Resume a paused workspace once Slack accepts the bot token for it again."""
        now = self.clock()
        if self._probed_at is not None and now - self._probed_at < self.policy.probe_paused_every:
            return
        self._probed_at = now
        if not paused_teams(self.store.db):
            return
        try:
            who = self.slack.call("auth.test", {})
        except DeliveryFailed as failure:
            log.info("outbox: a paused workspace's token is still refused (%s)", failure.reason)
            return
        if who.get("team_id"):
            token_works(self.store.db, str(who["team_id"]), now)

    def _deliver(self, message: PendingMessage) -> int:
        prepared = self._prepare(message)
        if prepared is None:
            return 0
        message, payload = prepared
        try:
            result = self.slack.call(message.method, payload)
        except DeliveryFailed as failure:
            if failure.reason in CHANNEL_ERRORS and message.method != "conversations.join":
                answer = self._rejoin_and_retry(message, payload, failure)
                if answer is None:
                    return 0
                result = answer
            else:
                self._failed(message, failure)
                return 0
        ts = result.get("ts") or result.get("message_ts")
        self.store.delivered(message, self.clock(), str(ts) if ts else None)
        return 1

    def _prepare(self, message: PendingMessage) -> tuple[PendingMessage, dict[str, Any]] | None:
        """The call to make: threads and updated messages resolved to their ts.

        An update of a message that never went out (its channel refused us meanwhile) is
        posted as a new message instead of being lost; an update of an experiment's
        thread root that never went out starts the thread anew.
        """
        payload = dict(message.payload)
        payload.pop(SCRUB_AFTER_DELIVERY, None)
        if message.method == "chat.update" and message.ref is not None:
            ts = self.store.ts_of(message.ref)
            if ts is None:
                message = replace(message, method="chat.postMessage")
            else:
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
                    # The root carries the experiment's whole card: post it as a new root.
                    return replace(message, method="chat.postMessage", thread_root=True), payload
                payload["ts"] = thread
            elif thread is not None:
                payload["thread_ts"] = thread
        return message, payload

    def _rejoin_and_retry(
        self, message: PendingMessage, payload: dict[str, Any], failure: DeliveryFailed
    ) -> dict[str, Any] | None:
        """Join a public channel once and post again; else tell its managers (once) and
        dead-letter the message: nothing tells us when someone fixes the channel, and
        holding it would hold every later message of the channel behind it."""
        channel = message.channel
        joinable = failure.reason in JOINABLE and channel.startswith("C")
        if joinable and not message.channel_blocked:
            try:
                self.slack.call("conversations.join", {"channel": channel})
            except DeliveryFailed as refused:
                if not refused.permanent or refused.reason in AUTH_ERRORS:
                    # Rate-limited, Slack down, token refused: the join is what waits.
                    self._failed(message, refused, method="conversations.join")
                    return None
                # Refused for good (private, archived, no scope): the channel stays refused.
            else:
                try:
                    return self.slack.call(message.method, payload)
                except DeliveryFailed as again:
                    failure = again
        if failure.reason not in CHANNEL_ERRORS:  # e.g. rate-limited on the way
            self._failed(message, failure)
            return None
        told: list[str] = []

        def tell(uow: UnitOfWork) -> None:
            told.extend(
                channel_refused(uow, message.team_id, channel, failure.reason, self.clock())
            )

        self.store.give_up(message, failure.reason, also=tell)
        log.warning(
            "outbox: cannot post in %s (%s); message %s dead-lettered%s",
            channel,
            failure.reason,
            message.id,
            f"; told {', '.join(told)}" if told else "",
        )
        return None

    def _failed(
        self, message: PendingMessage, failure: DeliveryFailed, method: str | None = None
    ) -> None:
        """Retry later, pause the workspace, or give up; ``method`` is the call that failed
        when it was not the message's own (a join on its behalf)."""
        now = self.clock()
        if failure.reason in AUTH_ERRORS:
            self._pause(message, failure.reason, now)
            return
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
        at = now + timedelta(seconds=delay)
        if failure.retry_after is None:
            self.store.retry_later(message, at, failure.reason)
            return
        # Slack limits each method per workspace: hold all of this workspace's calls of the
        # method, not just this one, while other methods and workspaces go on.
        limited = method or message.method
        self._waiting[(message.team_id, limited)] = at

        def hold(uow: UnitOfWork) -> None:
            uow.delivery.hold(message.team_id, limited, at)

        self.store.retry_later(message, at, failure.reason, also=hold)

    def _pause(self, message: PendingMessage, reason: str, now: datetime) -> None:
        """The token is refused: every message of the workspace waits, none is lost."""
        paused: list[bool] = []

        def pause(uow: UnitOfWork) -> None:
            paused.append(pause_workspace(uow, message.team_id, reason, now))

        self.store.retry_later(message, now, reason, also=pause)
        self._waiting[(message.team_id, None)] = now
        if any(paused):
            tell_operator_paused(message.team_id, reason)


class _Heartbeat:
    """A thread renewing the lease of the message being sent, every ``seconds``, so a slow
    send (a file upload's three 10 s calls) keeps its short lease while a message held by
    a killed process is taken over within one lease."""

    def __init__(self, store: OutboxStore, clock: Callable[[], datetime], seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.seconds = seconds
        self._held: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=HEARTBEAT_THREAD, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def holding(self, message_id: int) -> Iterator[None]:
        with self._lock:
            self._held = message_id
        try:
            yield
        finally:
            with self._lock:
                self._held = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds):
            with self._lock:
                held = self._held
            if held is None:
                continue
            try:
                self.store.renew(held, self.clock())
            except Exception:  # the next beat tries again, well within the lease
                log.exception("outbox: renewing the lease of message %s failed", held)


class Deliverer(Protocol):
    def deliver_due(self, budget: int = ..., stopping: Callable[[], bool] = ...) -> int:
        """Deliver what is due now; how many went out."""
        ...


class OutboxWorker:
    """A background thread that delivers as soon as changes commit, and polls as a fallback
    (the outbox's Slack messages, or another Deliverer's work: MLflow's gate tags)."""

    def __init__(
        self, dispatcher: Deliverer, poll_seconds: float = 1.0, name: str = "mlgov-outbox"
    ) -> None:
        self.dispatcher = dispatcher
        self.poll_seconds = poll_seconds
        self.name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

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
                log.exception("%s: delivery round failed", self.name)

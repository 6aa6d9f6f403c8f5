"""People's Slack statuses, read with users.profile.get (scope users.profile:read), kept
for a few minutes and written to the database as read: implements
bot.services.ports.Statuses.

Slack is asked on a few threads at once, so a deadline (before an ack) bounds the wait for
everyone together; an answer that comes after it is still kept and stored, for next time.
When Slack cannot be asked (an error, a 5xx, a timeout), the failure is held for a short
while too, so that one outage costs one wait, not one per person or per request; the
callers then decide by mlgov's own records and say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.availability import FRESH, SlackStatus, StatusReading
from bot.domain.errors import StorageError
from bot.slack.workspace_admins import slack_error, timed_out
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
TTL_SECONDS = FRESH.total_seconds()  # a status set in Slack counts within five minutes
FAILURE_TTL_SECONDS = 60.0  # Slack is asked again a minute after it failed
TIMEOUT_SECONDS = 3.0  # one users.profile.get; the work waits for it, the ack never does
THREADS = 4  # users.profile.get calls at once (Tier 4: 100+ a minute)
LATE = "Slack did not answer in time"
# Errors that say this person has no profile to read: no status, not a failure.
NO_PROFILE = frozenset({"user_not_found", "user_not_visible"})
Key = tuple[str, str]  # (team, user)


class SlackStatuses:
    def __init__(
        self,
        client: WebClient,
        db: Database | None = None,
        now: Callable[[], datetime] | None = None,
        *,
        ttl_seconds: float = TTL_SECONDS,
        failure_ttl_seconds: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A client of its own with a short timeout: a hung Slack must not hold the work.
        self.client = WebClient(
            token=client.token, base_url=client.base_url, timeout=int(TIMEOUT_SECONDS)
        )
        self.db = db  # where what Slack answered is stored (None: kept here only)
        self._now = now or (lambda: datetime.now(UTC))
        self.ttl = ttl_seconds
        self.failure_ttl = failure_ttl_seconds
        self._clock = clock
        # (team, user) -> (when read, the status, or why Slack could not be asked)
        self._cache: dict[Key, tuple[float, SlackStatus | str]] = {}
        self._asking: dict[Key, Future[None]] = {}  # asked, not answered yet
        self._failed: dict[str, str] = {}  # team -> why Slack failed while it is being asked
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="mlgov-statuses")

    def read(self, team_id: str, users: Sequence[str]) -> StatusReading:
        held = self._held(team_id, users)
        statuses = {u: v for u, v in held.items() if isinstance(v, SlackStatus)}
        problems = [v for v in held.values() if isinstance(v, str)]
        missing = tuple(u for u in dict.fromkeys(users) if u not in held)
        return StatusReading(statuses, problems[0] if problems else "", missing)

    def fetch(self, team_id: str, users: Sequence[str], deadline: float | None = None) -> None:
        started = self._clock()
        asked = self._ask_all(team_id, users)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        _, late = wait(asked.values(), timeout=remaining)
        if not late:
            return
        with self._lock:  # not answered in time: for now; a later answer replaces this
            for user, future in asked.items():
                entry = self._cache.get((team_id, user))
                if future in late and (entry is None or entry[0] < started):
                    self._cache[(team_id, user)] = (self._clock(), LATE)
        log.warning("users.profile.get: %d of %d not answered in time", len(late), len(asked))

    def prefetch(self, team_id: str, users: Sequence[str]) -> None:
        held = self._held(team_id, users)
        self._ask_all(team_id, [u for u in users if u not in held])

    def close(self) -> None:
        """Stop asking (what is under way finishes)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _ask_all(self, team_id: str, users: Sequence[str]) -> dict[str, Future[None]]:
        """Ask Slack for each of ``users`` (once: joining a question already under way)."""
        asked: dict[str, Future[None]] = {}
        with self._lock:
            if not self._asking:
                self._failed.clear()
            for user in dict.fromkeys(users):
                future = self._asking.get((team_id, user))
                if future is None:
                    future = self._pool.submit(self._ask_and_keep, team_id, user)
                    self._asking[(team_id, user)] = future
                asked[user] = future
        return asked

    def _ask_and_keep(self, team_id: str, user: str) -> None:
        """Ask for one status, keep it and store it (its own short transaction)."""
        try:  # whatever happens, the question is over: a later read asks again
            with self._lock:
                failed = self._failed.get(team_id, "")
            # After one failure those not asked yet are not: Slack is down or refuses us.
            answer = failed or self._ask(user)
            if isinstance(answer, SlackStatus):
                answer = replace(answer, read_at=self._now())
            with self._lock:
                if isinstance(answer, str):
                    self._failed[team_id] = answer
                self._cache[(team_id, user)] = (self._clock(), answer)
            if isinstance(answer, SlackStatus) and self.db is not None:
                self._store(self.db, team_id, user, answer)
        finally:
            with self._lock:
                self._asking.pop((team_id, user), None)

    def _store(self, db: Database, team_id: str, user: str, status: SlackStatus) -> None:
        try:
            with db.write() as uow:
                uow.slack_statuses.save(team_id, {user: status}, status.read_at or self._now())
                uow.commit()
        except StorageError as exc:  # kept here still; stored with the next reading
            log.warning("could not store the Slack status of %s: %s", user, exc)

    def _held(self, team_id: str, users: Sequence[str]) -> dict[str, SlackStatus | str]:
        now = self._clock()
        found: dict[str, SlackStatus | str] = {}
        with self._lock:
            for user in users:
                entry = self._cache.get((team_id, user))
                if entry is None:
                    continue
                at, value = entry
                if now - at < (self.failure_ttl if isinstance(value, str) else self.ttl):
                    found[user] = value
        return found

    def _ask(self, user: str) -> SlackStatus | str:
        """The user's status, or why Slack could not be asked, in a few words."""
        try:
            profile = self.client.users_profile_get(user=user).get("profile")
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            if data.get("error") in NO_PROFILE:
                return SlackStatus()
            reason = slack_error(exc)
        except OSError as exc:  # URLError, a refused connection, a timeout
            reason = LATE if timed_out(exc) else "Slack was unreachable"
        except Exception:  # a broken HTTP answer, a client error: a failure like the others
            log.exception("users.profile.get %s failed unexpectedly", user)
            reason = "Slack's answer could not be read"
        else:
            if isinstance(profile, dict):
                return _status(profile)
            reason = "Slack's answer had no profile"
        log.warning("users.profile.get %s failed: %s", user, reason)
        return reason


def _status(profile: dict[str, object]) -> SlackStatus:
    expiration = profile.get("status_expiration")
    seconds = (
        int(expiration)
        if isinstance(expiration, int | float | str) and str(expiration).isdigit()
        else 0
    )
    return SlackStatus(
        emoji=str(profile.get("status_emoji") or ""),
        text=str(profile.get("status_text") or ""),
        expires=datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None,
    )

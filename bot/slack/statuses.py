"""People's Slack statuses, read with users.profile.get (scope users.profile:read) and
cached for a few minutes: implements bot.services.ports.Statuses.

When Slack cannot be asked (an error, a 5xx, a timeout), the failure is held for a short
while too, so that one outage costs one wait, not one per person or per request; the
callers then decide by mlgov's own records and say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.availability import SlackStatus, StatusReading
from bot.services.ports import StatusesNeeded
from bot.slack.workspace_admins import slack_error, timed_out

log = logging.getLogger(__name__)
TTL_SECONDS = 300.0  # a status set in Slack counts within five minutes
FAILURE_TTL_SECONDS = 60.0  # Slack is asked again a minute after it failed
TIMEOUT_SECONDS = 3.0  # one users.profile.get; the work waits for it, the ack never does
# Errors that say this person has no profile to read: no status, not a failure.
NO_PROFILE = frozenset({"user_not_found", "user_not_visible"})


class SlackStatuses:
    def __init__(
        self,
        client: WebClient,
        ttl_seconds: float = TTL_SECONDS,
        failure_ttl_seconds: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A client of its own with a short timeout: a hung Slack must not hold the work.
        self.client = WebClient(
            token=client.token, base_url=client.base_url, timeout=int(TIMEOUT_SECONDS)
        )
        self.ttl = ttl_seconds
        self.failure_ttl = failure_ttl_seconds
        self._clock = clock
        # (team, user) -> (when read, the status, or why Slack could not be asked)
        self._cache: dict[tuple[str, str], tuple[float, SlackStatus | str]] = {}
        self._lock = threading.Lock()

    def read(self, team_id: str, users: Sequence[str], *, fetch: bool) -> StatusReading:
        held = self._held(team_id, users)
        missing = [u for u in users if u not in held]
        if missing:
            if not fetch:
                raise StatusesNeeded(team_id, missing)
            self.fetch(team_id, missing)
            held = self._held(team_id, users)
        statuses = {u: v for u, v in held.items() if isinstance(v, SlackStatus)}
        problems = [v for u, v in held.items() if isinstance(v, str)]
        return StatusReading(statuses, problems[0] if problems else "")

    def fetch(self, team_id: str, users: Sequence[str]) -> None:
        failed = ""
        for user in dict.fromkeys(users):
            # After one failure the rest are not asked: Slack is down or refuses us.
            answer: SlackStatus | str = failed or self._ask(user)
            if isinstance(answer, str):
                failed = answer
            with self._lock:
                self._cache[(team_id, user)] = (self._clock(), answer)

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
            reason = "Slack did not answer in time" if timed_out(exc) else "Slack was unreachable"
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

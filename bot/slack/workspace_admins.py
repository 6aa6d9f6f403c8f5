"""Slack workspace admins are mlgov admins (SPEC §2); asked of users.info, cached.

When Slack cannot be asked (an error, a 5xx, a timeout) the answer is "unknown", not
"no": a refusal would then be misleading, so the request's Origin carries what to say
instead, and only real answers are cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.dispatch import Origin

log = logging.getLogger(__name__)
TTL_SECONDS = 300.0  # a promotion or demotion in Slack counts within five minutes
COULD_NOT_ASK = (
    "I could not ask Slack whether you are a workspace admin ({reason}),"
    " which this needs; nothing was changed. Please try again shortly."
)


class AdminCheckFailed(Exception):
    """users.info did not answer; ``reason`` says how, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkspaceAdmins:
    def __init__(
        self, ttl_seconds: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def ask(self, client: WebClient, origin: Origin) -> Origin:
        """``origin`` with whether its user is a workspace admin, or why Slack could not say."""
        try:
            return replace(origin, workspace_admin=self.is_admin(client, origin))
        except AdminCheckFailed as exc:
            return replace(origin, admin_check_failed=COULD_NOT_ASK.format(reason=exc.reason))

    def is_admin(self, client: WebClient, origin: Origin) -> bool:
        """Whether Slack says the user is an admin or owner of the workspace (cached)."""
        key = (origin.team_id, origin.user_id)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        user = users_info(client, origin.user_id)
        admin = bool(user.get("is_admin") or user.get("is_owner"))
        with self._lock:
            self._cache[key] = (now, admin)
        return admin


def users_info(client: WebClient, user_id: str) -> dict[str, object]:
    """The user as users.info describes them; AdminCheckFailed when Slack did not answer."""
    try:
        user = client.users_info(user=user_id).get("user")
    except SlackApiError as exc:
        reason = slack_error(exc)
    except OSError as exc:  # URLError, a refused connection, a timeout
        reason = "Slack did not answer in time" if timed_out(exc) else "Slack was unreachable"
    else:
        if isinstance(user, dict):
            return user
        reason = "Slack's answer had no user"
    log.warning("users.info %s failed: %s", user_id, reason)
    raise AdminCheckFailed(reason)


def slack_error(exc: SlackApiError) -> str:
    status = exc.response.status_code
    error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
    if status >= 500:
        return f"Slack answered {status}"
    return f"Slack said {error or status}"


def timed_out(exc: OSError) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)

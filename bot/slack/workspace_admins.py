"""Slack workspace admins are mlgov admins (SPEC §2); asked of users.info, cached."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class WorkspaceAdmins:
    def __init__(self, ttl_seconds: float = 600.0) -> None:
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def is_admin(self, client: WebClient, user_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            user = client.users_info(user=user_id).get("user") or {}
            admin = bool(user.get("is_admin") or user.get("is_owner"))
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return False
        with self._lock:
            self._cache[user_id] = (now, admin)
        return admin

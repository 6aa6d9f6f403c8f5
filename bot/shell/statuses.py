"""Slack statuses in the shell, where there is no Slack: ``:status @bob :palm_tree: until
2026-12-11`` sets one, and reviewer selection and the rotation read it as they read
Slack's (implements bot.services.ports.Statuses)."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.availability import SlackStatus, StatusReading
from bot.shell.directory import TEAM_ID

if TYPE_CHECKING:
    from bot.shell.session import Session

USAGE = ":status [@name [:emoji:] [text] [until YYYY-MM-DD] | @name clear]"
UNTIL = re.compile(r"\buntil\s+([0-9]{4}-[0-9]{2}-[0-9]{2})\s*$")
EMOJI = re.compile(r"^:[a-z0-9_+'-]+:$")


class LocalStatuses:
    """Statuses set by hand; everyone else has none."""

    def __init__(self) -> None:
        self._statuses: dict[str, SlackStatus] = {}
        self._lock = threading.Lock()

    def read(self, team_id: str, users: Sequence[str]) -> StatusReading:
        with self._lock:
            return StatusReading({u: self._statuses.get(u, SlackStatus()) for u in users})

    def fetch(self, team_id: str, users: Sequence[str], deadline: float | None = None) -> None:
        """Nothing to fetch: every status is at hand."""

    def prefetch(self, team_id: str, users: Sequence[str]) -> None:
        """Nothing to fetch: every status is at hand."""

    def set(self, user_id: str, status: SlackStatus) -> None:
        with self._lock:
            if status.empty:
                self._statuses.pop(user_id, None)
            else:
                self._statuses[user_id] = status

    def all(self) -> dict[str, SlackStatus]:
        with self._lock:
            return dict(self._statuses)


def parse_status(words: str, zone: ZoneInfo) -> SlackStatus:
    """``[:emoji:] [text] [until YYYY-MM-DD]``; ``until`` ends with that day (team time)."""
    expires = None
    found = UNTIL.search(words)
    if found:
        day = date.fromisoformat(found.group(1))
        expires = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        words = words[: found.start()].strip()
    emoji, _, text = words.partition(" ")
    if not EMOJI.match(emoji):
        emoji, text = "", words
    return SlackStatus(emoji, text.strip(), expires)


def status_command(session: Session, argument: str) -> None:
    statuses = session.runtime.dispatcher.statuses
    if not isinstance(statuses, LocalStatuses):
        session.write("Statuses come from Slack here.")
        return
    if not argument.strip():
        shown = statuses.all()
        for user_id, status in sorted(shown.items()):
            name = session.directory.person(user_id).name
            session.write(f"  @{name}: {describe(status)}")
        if not shown:
            session.write(f"Nobody has a status. Usage: {USAGE}")
        return
    who, _, rest = argument.strip().partition(" ")
    if not who.startswith("@") or not rest.strip():
        session.write(f"Name someone and their status. Usage: {USAGE}")
        return
    person = session.directory.resolve(who)
    zone = ZoneInfo(session.runtime.settings.timezone)
    try:
        status = SlackStatus() if rest.strip() == "clear" else parse_status(rest.strip(), zone)
    except ValueError:
        session.write(f"'{rest.strip()}' has a date that is not YYYY-MM-DD. Usage: {USAGE}")
        return
    status = replace(status, read_at=session.runtime.clock())
    statuses.set(person.user_id, status)
    # Stored too, as Slack's are when read: the Home, the digest and feeds plan with them.
    with session.runtime.db.write() as uow:
        uow.slack_statuses.save(TEAM_ID, {person.user_id: status}, session.runtime.clock())
        uow.commit()
    if status.empty:
        session.write(f"@{person.name} has no status now.")
    else:
        session.write(f"@{person.name}'s Slack status is now {describe(status)}.")


def describe(status: SlackStatus) -> str:
    """``:palm_tree: back soon, until Fri 11 Dec`` (the last day it holds)."""
    shown = " ".join(part for part in (status.emoji, status.text) if part)
    if status.expires is None:
        return shown + " (no expiry)"
    last = status.expires - timedelta(microseconds=1)
    return f"{shown}, until {last:%a %d %b %Y}"

"""Slack statuses in the shell, where there is no Slack: ``:status @bob :palm_tree: until
2026-12-11`` sets one, and reviewer selection and the rotation read it as they read
Slack's (implements bot.services.ports.Statuses)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.availability import SlackStatus, StatusReading
from bot.shell.directory import TEAM_ID

if TYPE_CHECKING:
    from bot.shell.session import Session
    from storage.unit_of_work import Database

USAGE = ":status [@name [:emoji:] [text] [until YYYY-MM-DD] | @name clear]"
UNTIL = re.compile(r"\buntil\s+([0-9]{4}-[0-9]{2}-[0-9]{2})\s*$")
EMOJI = re.compile(r"^:[a-z0-9_+'-]+:$")


class LocalStatuses:
    """Statuses set by hand, kept where Slack's are kept (table ``slack_statuses``), so a
    later session, the Home, the digest, the feeds and the read API see the same ones;
    everyone else has none."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self, team_id: str, users: Sequence[str]) -> StatusReading:
        # Its own read: the stored table is the only copy (no cache to disagree with it).
        with self.db.read() as uow:
            stored = uow.slack_statuses.of(team_id, users)
        return StatusReading({u: stored.get(u, SlackStatus()) for u in users})

    def fetch(self, team_id: str, users: Sequence[str], deadline: float | None = None) -> None:
        """Nothing to fetch: every status is at hand."""

    def close(self) -> None:
        """Nothing to stop: no Slack is asked."""

    def prefetch(self, team_id: str, users: Sequence[str]) -> None:
        """Nothing to fetch: every status is at hand."""

    def set(self, team_id: str, user_id: str, status: SlackStatus, now: datetime) -> None:
        """Store ``status`` as ``user_id``'s, as a reading of Slack's would be."""
        with self.db.write() as uow:
            uow.slack_statuses.save(team_id, {user_id: status}, now)
            uow.commit()

    def all(self, team_id: str) -> dict[str, SlackStatus]:
        """Everyone's status but the cleared ones."""
        with self.db.read() as uow:
            stored = uow.slack_statuses.of_team(team_id)
        return {user: status for user, status in stored.items() if not status.empty}


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
        shown = statuses.all(TEAM_ID)
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
    statuses.set(TEAM_ID, person.user_id, status, session.runtime.clock())
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

"""Away by Slack status (SPEC §13): pure rules over a person's status and the workspace's
rules. Reviewer selection and the rotation skip whoever this says is away, besides the
absences recorded with ``/rotation ooo``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.rotation import Absence
from bot.domain.workspace_rules import WorkspaceRules

# A status without an expiry holds until it is cleared, which nobody knows: it is read as
# lasting a week from when it was read (it covers the next meeting of every rotation, not
# later ones; read again, it lasts a week from then).
OPEN_ENDED = timedelta(days=7)
# How long a status read from Slack stands for the status now: a change made in Slack
# counts within this (each process's cache, and a reading another process stored).
FRESH = timedelta(minutes=5)
SLACK_STATUS = "away (Slack status)"  # the reason a rotation shows for such a skip
_SKIN_TONE = re.compile(r"::skin-tone-[2-6]:$")


@dataclass(frozen=True)
class SlackStatus:
    """A person's Slack status as users.profile.get gives it."""

    emoji: str = ""  # like ":palm_tree:"
    text: str = ""
    expires: datetime | None = None  # None: until cleared
    read_at: datetime | None = None  # when mlgov read it (None: just now)

    @property
    def empty(self) -> bool:
        return not self.emoji and not self.text

    def lasts_until(self, now: datetime) -> datetime:
        """Its expiry; without one, a week from when it was read."""
        return self.expires or (self.read_at or now) + OPEN_ENDED


@dataclass(frozen=True)
class StatusReading:
    """Statuses of some people, why Slack could not be asked for some others, and who is
    left: neither read recently nor known to be unreadable."""

    statuses: dict[str, SlackStatus]
    problem: str = ""  # "" when every status held was read
    missing: tuple[str, ...] = ()


def says_away(status: SlackStatus, rules: WorkspaceRules) -> bool:
    """Whether the status's emoji or text is one the workspace counts as away (the text
    holds one of the words or phrases as a whole word, in any case)."""
    if not rules.uses_slack_status or status.empty:
        return False
    emoji = _SKIN_TONE.sub(":", status.emoji.strip().lower())
    if emoji and emoji in rules.away_emoji:
        return True
    text = status.text.casefold()
    return any(
        re.search(rf"(?<!\w){re.escape(phrase.casefold())}(?!\w)", text)
        for phrase in rules.away_text
        if phrase
    )


def away_at(status: SlackStatus, rules: WorkspaceRules, moment: datetime) -> bool:
    """Whether the status says away at ``moment`` (before its expiry, or a week after it
    was read when it has none)."""
    if not says_away(status, rules):
        return False
    return moment < status.lasts_until(moment)


def as_absence(
    user_id: str, status: SlackStatus, rules: WorkspaceRules, now: datetime, zone: ZoneInfo
) -> Absence | None:
    """The days the status keeps ``user_id`` away, from today to its expiry's day (the day
    of its last moment); a status without expiry, for a week from when it was read. None
    when not away now."""
    if not away_at(status, rules, now):
        return None
    until = status.lasts_until(now)
    today = now.astimezone(zone).date()
    last: date = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return Absence(user_id, today, max(today, last), SLACK_STATUS)

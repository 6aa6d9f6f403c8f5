"""Calendar feeds (SPEC §13): the events of a project's feed and of a person's, pure.

A meeting keeps one UID per project and week, so a swap, a skip or a new presenter
changes the entry a calendar already shows instead of adding another. Meetings carry
their wall-clock time in the project's zone; reviews owed are all-day events on the day
they are due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.domain.review import REMIND_AFTER, add_working_days
from bot.domain.rotation import RotationConfig, Slot, at_local

FEED_WEEKS = 12
MEETING_LENGTH = timedelta(hours=1)
PERSONAL = "me"  # the personal feed's name, in its URL and in /rotation calendar me


@dataclass(frozen=True)
class CalendarKey:
    """Whose feed a subscription key opens: one person's, of one project or personal."""

    team_id: str
    user_id: str
    project_id: int | None  # None: the owner's personal feed


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    summary: str
    description: str
    start: datetime | date  # an aware datetime in the meeting's zone, or an all-day date
    end: datetime | date
    url: str = ""
    cancelled: bool = False


@dataclass(frozen=True)
class Feed:
    name: str  # what a calendar app calls the subscription
    timezone: str  # the meetings' zone (else the team's), for apps that show one per calendar
    events: tuple[CalendarEvent, ...]


def channel_link(team_id: str, channel_id: str) -> str:
    """Slack's documented redirect into a channel, for any client."""
    return f"https://slack.com/app_redirect?team={team_id}&channel={channel_id}"


def meeting_uid(team_id: str, project_id: int, week: date) -> str:
    year, number, _ = week.isocalendar()
    return f"rotation-{team_id}-{project_id}-{year}-W{number:02d}@mlgov"


def meeting_event(
    slug: str,
    team_id: str,
    project_id: int,
    channel_id: str,
    slot: Slot,
    config: RotationConfig,
    names: Mapping[str, str],
) -> CalendarEvent:
    """A planned meeting: topic and presenter; the agenda is posted in the channel."""
    start = at_local(config, slot.week, config.meeting).astimezone(config.zone)
    link = channel_link(team_id, channel_id)
    uid = meeting_uid(team_id, project_id, slot.week)
    if slot.cancelled is not None:
        why = f": {slot.cancelled}" if slot.cancelled else ""
        return CalendarEvent(
            uid,
            f"Skipped: {slug} {slot.topic} review",
            f"No {slug} review this week{why}. Nobody loses their place in the rotation.",
            start,
            start + MEETING_LENGTH,
            link,
            cancelled=True,
        )
    who = names.get(slot.presenter or "", slot.presenter or "") or "nobody available"
    topic = slot.topic if slot.instead_of is None else f"{slot.topic} (for {slot.instead_of})"
    lines = [f"Presenter: {who}", f"Topic: {topic}"]
    if slot.swapped_from:
        lines.append(f"Swapped with {names.get(slot.swapped_from) or slot.swapped_from}")
    if slot.skipped:
        away = ", ".join(names.get(u) or u for u, _ in slot.skipped)
        lines.append(f"Away: {away}")
    lines.append(
        f"Agenda: posted in the project's Slack channel at {config.announce:%H:%M} on the day,"
        f" with what moved on the board since the last {slot.topic} review: {link}"
    )
    return CalendarEvent(
        uid,
        f"{slug} {slot.topic} review: {who}",
        "\n".join(lines),
        start,
        start + MEETING_LENGTH,
        link,
    )


def review_event(
    team_id: str,
    reviewer: str,
    review_id: int,
    title: str,
    assigned: date,
    today: date,
    link: str,
) -> CalendarEvent:
    """A review owed: an all-day event on the day it is due (today once overdue)."""
    due = add_working_days(assigned, REMIND_AFTER)
    day = max(due, today)
    late = f" (overdue since {due:%a %d %b})" if due < today else ""
    return CalendarEvent(
        f"review-{team_id}-{review_id}-{reviewer}@mlgov",
        f"Review due: {title}{late}",
        f"You were asked on {assigned:%a %d %b}; reviewers are reminded after"
        f" {REMIND_AFTER} working days. The request is in the experiment's thread: {link}",
        day,
        day + timedelta(days=1),
        link,
    )

"""Snoozing a reminder (SPEC §13): when "Remind me in 2 h / tomorrow / Monday" comes back,
always within the team's working hours (Monday to Friday, in its time zone).

- **2 h**: two working hours later (at 16:30 with a 09:00-17:00 day: 10:30 the next
  working day; on a Saturday: Monday 11:00).
- **tomorrow**: the start of the next working day (on a Friday: Monday).
- **Monday**: the start of next week's Monday.

Snoozing moves a reminder only: the review's clock (its latency in the digest, when its
reviewer is replaced or its managers told) still counts from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class SnoozeFor(StrEnum):
    TWO_HOURS = "2h"
    TOMORROW = "tomorrow"
    MONDAY = "monday"


LABELS = {
    SnoozeFor.TWO_HOURS: "Remind me in 2 h",
    SnoozeFor.TOMORROW: "Remind me tomorrow",
    SnoozeFor.MONDAY: "Remind me Monday",
}


class SnoozeKind(StrEnum):
    REVIEW = "review"  # a review reminder: the subject is the review's id
    STALE = "stale"  # a stale nudge: the subject is an experiment key


@dataclass(frozen=True)
class WorkingDay:
    start: time
    end: time

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``clock`` on the team's wall clock, as a UTC instant (a time a DST gap
    skips becomes the instant the clocks then show, as in bot.domain.rotation.at_local)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _next_start(day: date, hours: WorkingDay, zone: ZoneInfo) -> datetime:
    """The start of the first working day from ``day`` on."""
    while not hours.is_working_day(day):
        day += timedelta(days=1)
    return _at(day, hours.start, zone)


def snooze_until(choice: SnoozeFor, now: datetime, zone: ZoneInfo, hours: WorkingDay) -> datetime:
    """When a reminder snoozed at ``now`` comes back (a UTC instant)."""
    local = now.astimezone(zone)
    today = local.date()
    if choice is SnoozeFor.TOMORROW:
        return _next_start(today + timedelta(days=1), hours, zone)
    if choice is SnoozeFor.MONDAY:
        return _at(today + timedelta(days=7 - today.weekday()), hours.start, zone)
    return add_working_time(now.astimezone(UTC), timedelta(hours=2), zone, hours)


def add_working_time(
    moment: datetime, left: timedelta, zone: ZoneInfo, hours: WorkingDay
) -> datetime:
    """``left`` of working time after ``moment`` (UTC), counted only within working hours."""
    day = moment.astimezone(zone).date()
    while True:
        start, end = _at(day, hours.start, zone), _at(day, hours.end, zone)
        if hours.is_working_day(day) and moment < end:
            moment = max(moment, start)
            if moment + left <= end:
                return moment + left
            left -= end - moment
        day += timedelta(days=1)
        moment = _at(day, time(), zone)

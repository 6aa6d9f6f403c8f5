"""Calendar feeds as iCalendar files (SPEC §13): read back by the library that writes them
(icalendar) and by an independent parser (ical), with the right local times in the weeks
around the daylight-saving changes of March, October and November.

Expected instants come from the known offsets (Berlin CET=UTC+1, CEST=UTC+2; New York
EST=UTC-5, EDT=UTC-4) and the 2026 changes (EU: Sun 29 Mar and Sun 25 Oct; US: Sun 8 Mar
and Sun 1 Nov).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from bot.calendar_ics import render
from bot.domain.calendar import Feed, meeting_event, meeting_uid, review_event
from bot.domain.rotation import RotationConfig, Slot, Topic

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NAMES = {"UALICE": "alice", "UBOB": "bob"}
# (zone, meeting day, the UTC hour of a 09:00 meeting that day)
DST_WEEKS = [
    ("Europe/Berlin", date(2026, 3, 23), 8),  # CET, the week before the change
    ("Europe/Berlin", date(2026, 3, 30), 7),  # CEST, the day after
    ("Europe/Berlin", date(2026, 10, 19), 7),
    ("Europe/Berlin", date(2026, 10, 26), 8),
    ("America/New_York", date(2026, 3, 2), 14),  # EST
    ("America/New_York", date(2026, 3, 9), 13),  # EDT, the day after the change
    ("America/New_York", date(2026, 10, 26), 13),
    ("America/New_York", date(2026, 11, 2), 14),  # EST, the day after the change
]


def feed_of(weeks: list[tuple[str, date, int]], presenter: str = "UALICE") -> Feed:
    events = []
    for n, (zone, day, _) in enumerate(weeks):
        config = RotationConfig(meeting=time(9, 0), announce=time(8, 0), timezone=zone)
        slot = Slot(day, Topic.SCIENCE, presenter)
        events.append(meeting_event(f"p{n}", "T1", n, "CCHURN", slot, config, NAMES))
    return Feed("test", "Europe/Berlin", tuple(events))


def by_icalendar(ics: bytes) -> dict[str, Any]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}


def by_ical(ics: bytes) -> dict[str, Any]:
    return {e.uid: e for e in IcsCalendarStream.calendar_from_ics(ics.decode()).events}


def zone_key(value: tzinfo | None) -> str:
    return str(getattr(value, "key", None) or getattr(value, "zone", None) or value)


@pytest.mark.parametrize("parse", [by_icalendar, by_ical], ids=["icalendar", "ical"])
def test_both_parsers_read_nine_oclock_local_time_across_dst(parse: Any) -> None:
    ics = render(feed_of(DST_WEEKS), NOW)
    events = parse(ics)
    assert len(events) == len(DST_WEEKS)
    for n, (zone, day, utc_hour) in enumerate(DST_WEEKS):
        event = events[meeting_uid("T1", n, day)]
        start = event.decoded("DTSTART") if parse is by_icalendar else event.dtstart
        end = event.decoded("DTEND") if parse is by_icalendar else event.dtend
        assert (start.date(), start.time()) == (day, time(9, 0)), (zone, day)
        assert zone_key(start.tzinfo) == zone
        assert start.astimezone(UTC) == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
        assert end - start == timedelta(hours=1)


def test_the_file_carries_a_vtimezone_that_gives_the_right_offsets_by_itself() -> None:
    """A calendar app that does not know IANA names uses the VTIMEZONE: built from it alone
    (icalendar's to_tz), the offsets are those of each DST week."""
    ics = render(feed_of(DST_WEEKS), NOW)
    calendar = icalendar.Calendar.from_ical(ics)
    zones = {str(tz["TZID"]): tz.to_tz() for tz in calendar.walk("VTIMEZONE")}
    assert set(zones) == {"Europe/Berlin", "America/New_York"}
    for zone, day, utc_hour in DST_WEEKS:
        local = datetime.combine(day, time(9, 0), tzinfo=zones[zone])
        assert local.astimezone(UTC).hour == utc_hour, (zone, day)
    assert b"TZID=Europe/Berlin:20260330T090000" in ics


@pytest.mark.parametrize("parse", [by_icalendar, by_ical], ids=["icalendar", "ical"])
def test_a_swap_changes_the_entry_under_the_same_uid(parse: Any) -> None:
    before = parse(render(feed_of(DST_WEEKS[:2]), NOW))
    after = parse(render(feed_of(DST_WEEKS[:2], presenter="UBOB"), NOW))
    assert before.keys() == after.keys()
    for uid in before:
        summary = (lambda e: str(e["SUMMARY"])) if parse is by_icalendar else (lambda e: e.summary)
        assert summary(before[uid]).endswith(": alice")
        assert summary(after[uid]).endswith(": bob")


@pytest.mark.parametrize("parse", [by_icalendar, by_ical], ids=["icalendar", "ical"])
def test_a_skipped_meeting_is_cancelled_and_a_review_owed_is_an_all_day_event(parse: Any) -> None:
    config = RotationConfig(timezone="Europe/Berlin")
    skipped = Slot(date(2026, 3, 30), Topic.ENGINEERING, None, cancelled="team offsite")
    meeting = meeting_event("churn", "T1", 7, "CCHURN", skipped, config, NAMES)
    review = review_event(
        "T1", "UALICE", 3, "EXP-3 Tenure (results review)", date(2026, 3, 26), NOW.date(), ""
    )
    events = parse(render(Feed("churn", "Europe/Berlin", (meeting, review)), NOW))
    cancelled, owed = events[meeting.uid], events[review.uid]
    if parse is by_icalendar:
        assert str(cancelled["STATUS"]) == "CANCELLED"
        assert "team offsite" in str(cancelled["DESCRIPTION"])
        assert owed.decoded("DTSTART") == date(2026, 3, 30)  # Thu + 2 working days: Mon
    else:
        assert cancelled.status.value == "CANCELLED"
        assert "team offsite" in cancelled.description
        assert owed.dtstart == date(2026, 3, 30)


def test_an_overdue_review_shows_today_and_says_since_when() -> None:
    review = review_event("T1", "UALICE", 3, "EXP-3", date(2026, 3, 2), date(2026, 3, 9), "")
    assert review.start == date(2026, 3, 9)
    assert review.summary == "Review due: EXP-3 (overdue since Wed 04 Mar)"

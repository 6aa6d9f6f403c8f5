"""A calendar feed as an iCalendar file (RFC 5545), written with the ``icalendar`` library.

Each timed event carries its zone by TZID, and the file holds a VTIMEZONE for every zone
it uses, built from the IANA database for the feed's dates: a meeting at 09:00 Berlin
shows at 09:00 Berlin in March and in November, in any calendar app.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import icalendar

from bot.domain.calendar import Feed

PRODID = "-//mlgov//review rotation//EN"
REFRESH = timedelta(hours=1)  # how often apps that honour it should fetch the feed again


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def render(feed: Feed, now: datetime) -> bytes:
    """The feed's iCalendar file; ``now`` stamps the events (DTSTAMP)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", feed.name)
    calendar.add("x-wr-timezone", feed.timezone)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))  # Outlook's name for it
    for item in feed.events:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        event.add("summary", item.summary)
        event.add("description", item.description)
        if item.url:
            event.add("url", item.url)
        event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
        # A review due that day does not make the reviewer busy; a meeting does.
        all_day = not isinstance(item.start, datetime)
        event.add("transp", "TRANSPARENT" if all_day else "OPAQUE")
        calendar.add_component(event)
    days = [_day(e.start) for e in feed.events]
    first = min(days, default=now.date()) - timedelta(days=366)
    last = max(days, default=now.date()) + timedelta(days=366)
    calendar.add_missing_timezones(first, last)
    return bytes(calendar.to_ical())

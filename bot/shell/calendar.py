"""``:calendar URL``: what a calendar app subscribed to a feed URL sees, in the terminal.

The shell serves no HTTP; this asks the dispatcher for the feed exactly as
``GET /calendar/<feed>.ics?key=…`` does, then lists the events the file holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import icalendar

if TYPE_CHECKING:
    from bot.shell.session import Session

USAGE = "Usage: :calendar <URL from /rotation calendar>, e.g. :calendar https://…/calendar/churn.ics?key=…"


def calendar_command(session: Session, argument: str) -> None:
    parts = urlsplit(argument.strip())
    name = parts.path.rsplit("/", 1)[-1]
    if "calendar/" not in parts.path:
        session.write(USAGE)
        return
    if not name.endswith(".ics"):
        session.write(f"GET {parts.path} → 404 No such calendar.")
        return
    key = (parse_qs(parts.query).get("key") or [""])[0]
    body = session.runtime.dispatcher.calendar(name.removesuffix(".ics"), key)
    if body is None:
        session.write(f"GET {parts.path} → 404 No such calendar.")
        return
    calendar = icalendar.Calendar.from_ical(body)
    events = sorted(calendar.walk("VEVENT"), key=lambda e: str(e.decoded("DTSTART")))
    session.write(
        f"GET {parts.path} → 200 text/calendar, {len(body):,} bytes:"
        f" “{calendar.get('X-WR-CALNAME')}”, {len(events)} event(s)"
    )
    for event in events:
        start = event.decoded("DTSTART")
        when = (
            f"{start:%a %Y-%m-%d %H:%M %Z}"
            if isinstance(start, datetime)
            else f"{start:%a %Y-%m-%d} (all day)"
        )
        status = " [cancelled]" if str(event.get("STATUS")) == "CANCELLED" else ""
        session.write(f"  {when}  {event.get('SUMMARY')}{status}")

"""Housekeeping: forget what is only needed for a while (event ids, delivered messages,
Slack requests the workers finished)."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.unit_of_work import Database

# Slack retries an event for about 5 minutes; a day is a wide margin.
KEEP_EVENT_IDS = timedelta(days=1)
KEEP_DELIVERED = timedelta(days=7)
KEEP_FINISHED_REQUESTS = timedelta(days=7)  # parked ones stay, for inspection


def run_housekeeping(db: Database, now: datetime) -> list[str]:
    with db.write() as uow:
        events = uow.events.forget_before(now - KEEP_EVENT_IDS)
        messages = uow.outbox.forget_delivered_before(now - KEEP_DELIVERED)
        requests = uow.inbox.forget_done_before(now - KEEP_FINISHED_REQUESTS)
        uow.commit()
    done = []
    if events:
        done.append(f"forgot {events} Slack event id(s) older than {KEEP_EVENT_IDS.days} day(s)")
    if messages:
        done.append(f"removed {messages} Slack message(s) delivered over a week ago")
    if requests:
        done.append(f"removed {requests} Slack request(s) finished over a week ago")
    return done

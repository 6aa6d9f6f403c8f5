"""Housekeeping forgets old event ids and delivered messages, and nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.domain.model import OutgoingMessage
from bot.services.housekeeping import run_housekeeping
from storage.models import OutboxRow, ProcessedEventRow
from storage.unit_of_work import Database
from tests.integration.conftest import T0


def count(db: Database, table: type) -> int:
    with db.read() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(table)) or 0)


def test_old_event_ids_and_old_deliveries_go_recent_and_pending_stay(db: Database) -> None:
    with db.write() as uow:
        uow.events.claim("T1", "Ev-old", T0 - timedelta(days=2))
        uow.events.claim("T1", "Ev-new", T0 - timedelta(minutes=5))
        for text in ("delivered long ago", "delivered yesterday", "still pending"):
            uow.outbox.add(
                OutgoingMessage("T1", "C1", "chat.postMessage", {"text": text}),
                T0 - timedelta(days=10),
            )
        uow.commit()
    with db.write() as uow:
        rows = uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        rows[0].sent_at = T0 - timedelta(days=8)
        rows[1].sent_at = T0 - timedelta(days=1)
        uow.commit()

    done = run_housekeeping(db, T0)

    assert done == [
        "forgot 1 Slack event id(s) older than 1 day(s)",
        "removed 1 Slack message(s) delivered over a week ago",
    ]
    assert count(db, ProcessedEventRow) == 1
    with db.read() as uow:
        texts = [
            r.payload["text"] for r in uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id))
        ]
    assert texts == ["delivered yesterday", "still pending"]
    # A retry of the recent event is still recognised; the old one could be taken again.
    with db.write() as uow:
        assert uow.events.claim("T1", "Ev-new", T0) is False
        assert uow.events.claim("T1", "Ev-old", T0) is True
    assert run_housekeeping(db, T0) == []

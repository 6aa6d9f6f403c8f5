"""Swap requests: a presenter's week offered with a **Take it** button, taken once."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.rotation import SwapRequest
from storage.models import SwapRequestRow
from storage.sql import affected


def _request(row: SwapRequestRow) -> SwapRequest:
    return SwapRequest(
        row.id,
        row.project_id,
        row.week,
        row.presenter,
        row.requested_by,
        row.created_at,
        row.taken_by,
        row.closed_at,
        row.closed_reason,
    )


class SwapRequests:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, request_id: int) -> SwapRequest | None:
        row = self.session.get(SwapRequestRow, request_id)
        return None if row is None else _request(row)

    def open_for(self, project_id: int, week: date) -> SwapRequest | None:
        row = self.session.scalars(
            select(SwapRequestRow).where(
                SwapRequestRow.project_id == project_id,
                SwapRequestRow.week == week,
                SwapRequestRow.closed_at.is_(None),
            )
        ).first()
        return None if row is None else _request(row)

    def all_open(self) -> list[SwapRequest]:
        """Every open request of every project, oldest first (for the rotation job)."""
        rows = self.session.scalars(
            select(SwapRequestRow)
            .where(SwapRequestRow.closed_at.is_(None))
            .order_by(SwapRequestRow.id)
        ).all()
        return [_request(r) for r in rows]

    def add(
        self, project_id: int, week: date, presenter: str, requested_by: str, now: datetime
    ) -> SwapRequest:
        row = SwapRequestRow(
            project_id=project_id,
            week=week,
            presenter=presenter,
            requested_by=requested_by,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return _request(row)

    def close(
        self, request_id: int, reason: str, now: datetime, taken_by: str | None = None
    ) -> bool:
        """End an open request (``taken`` by ``taken_by``, or no longer valid); False when
        it had ended already. One statement, so two takers at once give one: the second's
        UPDATE finds it closed (PostgreSQL re-reads the row after the first commits; SQLite
        writers take the lock up front)."""
        statement = (
            update(SwapRequestRow)
            .where(SwapRequestRow.id == request_id, SwapRequestRow.closed_at.is_(None))
            .values(closed_at=now, closed_reason=reason, taken_by=taken_by)
        )
        return bool(affected(self.session.execute(statement)))

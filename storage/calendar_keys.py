"""Calendar subscription keys, stored as SHA-256 hashes: the key itself is only in the URL
its owner was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.domain.calendar import CalendarKey
from storage.models import CalendarKeyRow
from storage.sql import affected


class CalendarKeys:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, key_hash: str) -> CalendarKey | None:
        row = self.session.scalars(
            select(CalendarKeyRow).where(CalendarKeyRow.key_hash == key_hash)
        ).first()
        return None if row is None else CalendarKey(row.team_id, row.user_id, row.project_id)

    def add(self, key_hash: str, key: CalendarKey, now: datetime) -> None:
        self.session.add(
            CalendarKeyRow(
                key_hash=key_hash,
                team_id=key.team_id,
                user_id=key.user_id,
                project_id=key.project_id,
                created_at=now,
            )
        )

    def count(self, team_id: str, user_id: str, project_id: int | None) -> int:
        """The live keys of one person for one feed."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(CalendarKeyRow)
                .where(*self._of(team_id, user_id), self._feed(project_id))
            )
            or 0
        )

    def revoke(self, team_id: str, user_id: str, project_id: int | None, every: bool) -> int:
        """Delete a person's keys for one feed (``every``: for all their feeds); how many."""
        statement = delete(CalendarKeyRow).where(*self._of(team_id, user_id))
        if not every:
            statement = statement.where(self._feed(project_id))
        return affected(self.session.execute(statement))

    @staticmethod
    def _of(team_id: str, user_id: str) -> tuple[Any, ...]:
        return CalendarKeyRow.team_id == team_id, CalendarKeyRow.user_id == user_id

    @staticmethod
    def _feed(project_id: int | None) -> Any:
        if project_id is None:
            return CalendarKeyRow.project_id.is_(None)
        return CalendarKeyRow.project_id == project_id

"""Snoozed reminders: each comes back once, when its time has come."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.snooze import SnoozeKind
from storage.models import SnoozeRow
from storage.sql import affected


@dataclass(frozen=True)
class Snoozed:
    id: int
    team_id: str
    user_id: str
    kind: SnoozeKind
    subject: str
    until: datetime


def _snoozed(row: SnoozeRow) -> Snoozed:
    return Snoozed(row.id, row.team_id, row.user_id, SnoozeKind(row.kind), row.subject, row.until)


class Snoozes:
    def __init__(self, session: Session) -> None:
        self.session = session

    def snooze(
        self,
        team_id: str,
        user_id: str,
        kind: SnoozeKind,
        subjects: Iterable[str],
        until: datetime,
        now: datetime,
    ) -> None:
        """Bring the reminder of each subject back to ``user_id`` at ``until`` (a later
        snooze of the same reminder replaces an earlier one, sent or not)."""
        for subject in subjects:
            row = self.session.scalar(
                select(SnoozeRow).where(
                    SnoozeRow.team_id == team_id,
                    SnoozeRow.user_id == user_id,
                    SnoozeRow.kind == kind.value,
                    SnoozeRow.subject == subject,
                )
            )
            if row is None:
                row = SnoozeRow(team_id=team_id, user_id=user_id, kind=kind.value, subject=subject)
                self.session.add(row)
            row.until, row.created_at, row.sent_at = until, now, None
        self.session.flush()

    def due(self, kind: SnoozeKind, now: datetime) -> list[Snoozed]:
        """Snoozed reminders of ``kind`` whose time has come and that were not sent yet."""
        rows = self.session.scalars(
            select(SnoozeRow)
            .where(SnoozeRow.sent_at.is_(None), SnoozeRow.until <= now, SnoozeRow.kind == kind)
            .order_by(SnoozeRow.until, SnoozeRow.id)
        ).all()
        return [_snoozed(r) for r in rows]

    def pending(self, team_id: str, kind: SnoozeKind, now: datetime) -> set[tuple[str, str]]:
        """(user, subject) of reminders of ``kind`` snoozed until later than ``now``."""
        rows = self.session.execute(
            select(SnoozeRow.user_id, SnoozeRow.subject).where(
                SnoozeRow.team_id == team_id,
                SnoozeRow.kind == kind.value,
                SnoozeRow.sent_at.is_(None),
                SnoozeRow.until > now,
            )
        ).all()
        return {(user, subject) for user, subject in rows}

    def mark_sent(self, snooze_id: int, until: datetime, now: datetime) -> bool:
        """Record that the snooze came back; False when it was sent already or snoozed
        again meanwhile (another replica, a later press): then it is not sent now."""
        result = self.session.execute(
            update(SnoozeRow)
            .where(SnoozeRow.id == snooze_id, SnoozeRow.sent_at.is_(None), SnoozeRow.until == until)
            .values(sent_at=now)
        )
        return affected(result) == 1

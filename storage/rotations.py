"""Rotation storage: configuration, presenter pools, absences, swaps, skips and the history."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.domain.model import Role
from bot.domain.rotation import Absence, PoolMember, RotationConfig, Skip, Slot, Swap, Topic
from storage.models import (
    AbsenceRow,
    PresentationRow,
    RotationMemberRow,
    RotationRow,
    SkipRow,
    SwapRow,
)
from storage.sql import affected, insert_ignoring_conflicts


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class Rotations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def config(self, project_id: int, default: RotationConfig) -> RotationConfig:
        row = self.session.get(RotationRow, project_id)
        if row is None:
            return default
        return RotationConfig(
            weekday=row.weekday,
            meeting=_clock(row.meeting),
            announce=_clock(row.announce),
            timezone=row.timezone,
            pattern=tuple(Topic(t) for t in row.pattern),
            anchor=row.anchor,
        )

    def save_config(self, project_id: int, config: RotationConfig) -> None:
        row = self.session.get(RotationRow, project_id) or RotationRow(project_id=project_id)
        row.weekday = config.weekday
        row.meeting = f"{config.meeting:%H:%M}"
        row.announce = f"{config.announce:%H:%M}"
        row.timezone = config.timezone
        row.pattern = [t.value for t in config.pattern]
        row.anchor = config.anchor
        self.session.add(row)

    def pool(self, project_id: int) -> list[PoolMember]:
        rows = self.session.scalars(
            select(RotationMemberRow)
            .where(RotationMemberRow.project_id == project_id, RotationMemberRow.active)
            .order_by(RotationMemberRow.id)
        ).all()
        return [PoolMember(r.user_id, Role(r.role), r.id, r.joined_on) for r in rows]

    def join(self, project_id: int, user_id: str, role: Role, today: date) -> bool:
        """Enter the pool for ``role``; True when that changed anything."""
        if insert_ignoring_conflicts(
            self.session,
            RotationMemberRow,
            {
                "project_id": project_id,
                "user_id": user_id,
                "role": role.value,
                "joined_on": today,
                "active": True,
            },
        ):
            return True
        # Rejoining keeps the original joining order.
        return bool(
            affected(
                self.session.execute(
                    update(RotationMemberRow)
                    .where(
                        RotationMemberRow.project_id == project_id,
                        RotationMemberRow.user_id == user_id,
                        RotationMemberRow.role == role.value,
                        RotationMemberRow.active.is_(False),
                    )
                    .values(active=True)
                )
            )
        )

    def leave(self, project_id: int, user_id: str, role: Role | None = None) -> int:
        """Leave the pools (of ``role`` only, when given); returns how many were left."""
        statement = update(RotationMemberRow).where(
            RotationMemberRow.project_id == project_id,
            RotationMemberRow.user_id == user_id,
            RotationMemberRow.active,
        )
        if role is not None:
            statement = statement.where(RotationMemberRow.role == role.value)
        return affected(self.session.execute(statement.values(active=False)))

    def absences(self, team_id: str, since: date) -> list[Absence]:
        rows = self.session.scalars(
            select(AbsenceRow)
            .where(AbsenceRow.team_id == team_id, AbsenceRow.end_day >= since)
            .order_by(AbsenceRow.id)
        ).all()
        return [Absence(r.user_id, r.start_day, r.end_day) for r in rows]

    def absences_of(self, team_id: str, users: list[str], since: date) -> list[Absence]:
        """The absences of ``users`` not over before ``since``, earliest first."""
        rows = self.session.scalars(
            select(AbsenceRow)
            .where(
                AbsenceRow.team_id == team_id,
                AbsenceRow.user_id.in_(users),
                AbsenceRow.end_day >= since,
            )
            .order_by(AbsenceRow.start_day, AbsenceRow.user_id, AbsenceRow.id)
        ).all()
        return [Absence(r.user_id, r.start_day, r.end_day) for r in rows]

    def cancel_absences(self, team_id: str, user_id: str, start: date, today: date) -> int:
        """Withdraw ``user_id``'s absences starting on ``start`` from ``today`` on.

        One not begun yet is deleted; one under way ends yesterday, because the weeks
        already past were planned around it. Returns how many were changed.
        """
        found = AbsenceRow.team_id == team_id, AbsenceRow.user_id == user_id
        ongoing = affected(
            self.session.execute(
                update(AbsenceRow)
                .where(*found, AbsenceRow.start_day == start, AbsenceRow.end_day >= today)
                .where(AbsenceRow.start_day < today)
                .values(end_day=today - timedelta(days=1))
            )
        )
        ahead = affected(
            self.session.execute(
                delete(AbsenceRow).where(
                    *found, AbsenceRow.start_day == start, AbsenceRow.start_day >= today
                )
            )
        )
        return ongoing + ahead

    def add_absence(self, team_id: str, absence: Absence, now: datetime) -> None:
        self.session.add(
            AbsenceRow(
                team_id=team_id,
                user_id=absence.user_id,
                start_day=absence.start,
                end_day=absence.end,
                created_at=now,
            )
        )

    def swaps(self, project_id: int, since: date) -> list[Swap]:
        rows = self.session.scalars(
            select(SwapRow)
            .where(SwapRow.project_id == project_id, SwapRow.week >= since)
            .order_by(SwapRow.id)
        ).all()
        return [Swap(r.week, r.user_a, r.user_b, r.trade) for r in rows]

    def add_swap(self, project_id: int, swap: Swap, by: str, now: datetime) -> None:
        self.session.add(
            SwapRow(
                project_id=project_id,
                week=swap.week,
                user_a=swap.a,
                user_b=swap.b,
                trade=swap.trade,
                created_by=by,
                created_at=now,
            )
        )

    def move_swaps(self, project_id: int, moves: dict[date, date]) -> list[tuple[date, date]]:
        """Re-date the swaps of meetings that moved (``moves``: old date -> new); those moved."""
        if not moves:
            return []
        rows = self.session.scalars(
            select(SwapRow)
            .where(SwapRow.project_id == project_id, SwapRow.week.in_(moves))
            .order_by(SwapRow.id)
        ).all()
        moved = []
        for row in rows:
            moved.append((row.week, moves[row.week]))
            row.week = moves[row.week]
        self.session.flush()
        return moved

    def skips(self, project_id: int, since: date, until: date | None = None) -> list[Skip]:
        """The meetings skipped from ``since`` (to ``until``, inclusive), earliest first."""
        statement = select(SkipRow).where(SkipRow.project_id == project_id, SkipRow.week >= since)
        if until is not None:
            statement = statement.where(SkipRow.week <= until)
        rows = self.session.scalars(statement.order_by(SkipRow.week)).all()
        return [Skip(r.week, r.reason) for r in rows]

    def add_skip(self, project_id: int, skip: Skip, by: str, now: datetime) -> bool:
        """Cancel a meeting; False when it was skipped already."""
        return insert_ignoring_conflicts(
            self.session,
            SkipRow,
            {
                "project_id": project_id,
                "week": skip.week,
                "reason": skip.reason,
                "created_by": by,
                "created_at": now,
            },
        )

    def remove_skip(self, project_id: int, week: date) -> bool:
        """Hold a skipped meeting after all; False when it was not skipped."""
        statement = delete(SkipRow).where(SkipRow.project_id == project_id, SkipRow.week == week)
        return bool(affected(self.session.execute(statement)))

    def history(self, project_id: int, since: date | None = None) -> list[Slot]:
        statement = select(PresentationRow).where(PresentationRow.project_id == project_id)
        if since is not None:
            statement = statement.where(PresentationRow.week >= since)
        rows = self.session.scalars(statement.order_by(PresentationRow.week)).all()
        return [
            Slot(
                r.week,
                Topic(r.topic),
                r.presenter,
                tuple((u, reason) for u, reason in r.skipped),
                r.swapped_from,
            )
            for r in rows
        ]

    def last_announced(self, project_id: int, topic: Topic, before: date) -> datetime | None:
        """When the last meeting of ``topic`` before ``before`` was announced."""
        return self.session.scalar(
            select(PresentationRow.announced_at)
            .where(
                PresentationRow.project_id == project_id,
                PresentationRow.topic == topic.value,
                PresentationRow.week < before,
            )
            .order_by(PresentationRow.week.desc())
            .limit(1)
        )

    def record(self, project_id: int, slot: Slot, now: datetime) -> bool:
        """Keep an announced meeting in the history; False when it was recorded already."""
        return insert_ignoring_conflicts(
            self.session,
            PresentationRow,
            {
                "project_id": project_id,
                "week": slot.week,
                "topic": slot.topic.value,
                "presenter": slot.presenter,
                "swapped_from": slot.swapped_from,
                "skipped": [list(s) for s in slot.skipped],
                "announced_at": now,
            },
        )

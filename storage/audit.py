"""The audit log: every change, forever; read back for history and export."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.orm import Session

from bot.domain.model import (
    AuditEntry,
    Experiment,
    experiment_key,
)
from storage.models import (
    AuditRow,
    ExperimentRow,
    MemberRow,
    ProjectRow,
)


class Audit:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Experiments something was recorded about, and when: the gate tags of their
        # model versions are checked again (UnitOfWork.commit marks them, SPEC §12).
        self.changed: dict[int, datetime] = {}

    def record(
        self,
        team_id: str,
        actor_id: str,
        action: str,
        now: datetime,
        *,
        experiment: Experiment | None = None,
        project_id: int | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        detail: dict[str, Any] | None = None,
        gate: bool = True,
    ) -> None:
        """Keep one entry; ``gate``: whether it may move the experiment's gate (most do)."""
        if experiment is not None and gate:
            self.changed[experiment.id] = now
        self.session.execute(
            insert(AuditRow).values(
                team_id=team_id,
                actor_id=actor_id,
                action=action,
                experiment_id=experiment.id if experiment else None,
                project_id=project_id,
                from_status=from_status,
                to_status=to_status,
                detail=detail or {},
                created_at=now,
            )
        )

    def for_experiment(self, experiment: Experiment) -> list[AuditEntry]:
        rows = self.session.scalars(
            select(AuditRow).where(AuditRow.experiment_id == experiment.id).order_by(AuditRow.id)
        ).all()
        return [
            AuditEntry(
                r.created_at,
                r.actor_id,
                r.action,
                experiment.key,
                r.from_status,
                r.to_status,
                dict(r.detail or {}),
            )
            for r in rows
        ]

    def moves(
        self, project_id: int, actions: Iterable[str], since: datetime, until: datetime
    ) -> list[tuple[AuditEntry, str]]:
        """Experiment changes by ``actions`` in ``[since, until)``, with the titles."""
        rows = self.session.execute(
            select(AuditRow, ExperimentRow.number, ExperimentRow.title)
            .join(ExperimentRow, ExperimentRow.id == AuditRow.experiment_id)
            .where(
                AuditRow.project_id == project_id,
                AuditRow.action.in_(list(actions)),
                AuditRow.created_at >= since,
                AuditRow.created_at < until,
            )
            .order_by(AuditRow.id)
        ).all()
        return [
            (
                AuditEntry(
                    r.created_at,
                    r.actor_id,
                    r.action,
                    experiment_key(number),
                    r.from_status,
                    r.to_status,
                    dict(r.detail or {}),
                ),
                title,
            )
            for r, number, title in rows
        ]

    def trail(
        self, actions: Iterable[str], project: str | None, since: datetime | None
    ) -> list[dict[str, Any]]:
        """Audit entries with ``actions``, oldest first, as plain records for export.

        ``actor_name`` is the name mlgov stored for the actor (None when it has none).
        """
        statement = (
            select(AuditRow, ExperimentRow.number, ProjectRow.slug, MemberRow.name)
            .outerjoin(ExperimentRow, ExperimentRow.id == AuditRow.experiment_id)
            .outerjoin(ProjectRow, ProjectRow.id == AuditRow.project_id)
            .outerjoin(
                MemberRow,
                and_(MemberRow.team_id == AuditRow.team_id, MemberRow.user_id == AuditRow.actor_id),
            )
            .where(AuditRow.action.in_(list(actions)))
            .order_by(AuditRow.id)
        )
        if project is not None:
            statement = statement.where(ProjectRow.slug == project)
        if since is not None:
            statement = statement.where(AuditRow.created_at >= since)
        return [
            {
                "at": row.created_at.isoformat(),
                "team": row.team_id,
                "project": slug,
                "experiment": experiment_key(number) if number is not None else None,
                "actor": row.actor_id,
                "actor_name": name or None,
                "action": row.action,
                "from": row.from_status,
                "to": row.to_status,
                "conclusion": (row.detail or {}).get("conclusion"),
                "evaluation": (row.detail or {}).get("evaluation"),
                "detail": dict(row.detail or {}),
            }
            for row, number, slug, name in self.session.execute(statement).all()
        ]

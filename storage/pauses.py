"""Workspaces Slack refuses us (uninstalled, token revoked): paused, never deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.models import WorkspaceRow
from storage.sql import affected, insert_ignoring_conflicts


def not_paused(team_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """A filter keeping rows of workspaces that are not paused."""
    paused = select(WorkspaceRow.team_id).where(WorkspaceRow.paused_at.is_not(None))
    return team_id.not_in(paused)


class Pauses:
    def __init__(self, session: Session) -> None:
        self.session = session

    def pause(self, team_id: str, reason: str, now: datetime) -> bool:
        """Pause the workspace; True when it was running until now (so it is said once)."""
        insert_ignoring_conflicts(
            self.session,
            WorkspaceRow,
            {"team_id": team_id, "name": "", "next_experiment_number": 1, "created_at": now},
        )
        statement = (
            update(WorkspaceRow)
            .where(WorkspaceRow.team_id == team_id, WorkspaceRow.paused_at.is_(None))
            .values(paused_at=now, paused_reason=reason[:64])
        )
        return affected(self.session.execute(statement)) == 1

    def resume(self, team_id: str) -> str | None:
        """Resume the workspace; the reason it was paused for, or None if it was not."""
        paused = self.session.execute(
            select(WorkspaceRow.paused_reason).where(
                WorkspaceRow.team_id == team_id, WorkspaceRow.paused_at.is_not(None)
            )
        ).first()
        if paused is None:
            return None
        self.session.execute(
            update(WorkspaceRow)
            .where(WorkspaceRow.team_id == team_id)
            .values(paused_at=None, paused_reason=None)
        )
        return paused.paused_reason or ""

    def paused(self) -> dict[str, str]:
        """Paused workspaces and why."""
        rows = self.session.execute(
            select(WorkspaceRow.team_id, WorkspaceRow.paused_reason).where(
                WorkspaceRow.paused_at.is_not(None)
            )
        ).all()
        return {team: reason or "" for team, reason in rows}

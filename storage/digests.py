"""Digest subscriptions (managers get the digest without one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import DigestSubscriptionRow
from storage.sql import affected


class DigestSubscriptions:
    def __init__(self, session: Session) -> None:
        self.session = session

    def subscribe(self, team_id: str, user_id: str, project_id: int | None, now: datetime) -> bool:
        """Subscribe to one project (or to all one may read: None); False if already so."""
        if project_id in self.of(team_id, user_id):
            return False
        self.session.add(
            DigestSubscriptionRow(
                team_id=team_id, user_id=user_id, project_id=project_id, created_at=now
            )
        )
        self.session.flush()
        return True

    def unsubscribe(self, team_id: str, user_id: str, project_id: int | None) -> int:
        """Remove one subscription, or all of them (``project_id`` None); how many went."""
        statement = delete(DigestSubscriptionRow).where(
            DigestSubscriptionRow.team_id == team_id, DigestSubscriptionRow.user_id == user_id
        )
        if project_id is not None:
            statement = statement.where(DigestSubscriptionRow.project_id == project_id)
        return affected(self.session.execute(statement))

    def of(self, team_id: str, user_id: str) -> set[int | None]:
        return set(
            self.session.scalars(
                select(DigestSubscriptionRow.project_id).where(
                    DigestSubscriptionRow.team_id == team_id,
                    DigestSubscriptionRow.user_id == user_id,
                )
            )
        )

    def all_in(self, team_id: str) -> list[tuple[str, int | None]]:
        """(user, project id or None for all) of every subscription in the workspace."""
        rows = self.session.execute(
            select(DigestSubscriptionRow.user_id, DigestSubscriptionRow.project_id)
            .where(DigestSubscriptionRow.team_id == team_id)
            .order_by(DigestSubscriptionRow.id)
        ).all()
        return [(user, project) for user, project in rows]

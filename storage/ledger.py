"""The run ledger: claim (job, scope, period) once, in the transaction that does the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import JobRunRow
from storage.sql import insert_ignoring_conflicts


class RunLedger:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(
        self, job: str, scope: str, period: str, now: datetime, detail: dict[str, Any] | None = None
    ) -> bool:
        """True when this transaction claimed the run; False when it is claimed already.

        On PostgreSQL a concurrent claim of the same key waits for the first to commit
        or roll back, so exactly one of any number of replicas does the work; a crash
        before commit leaves the period unclaimed, to be done again.
        """
        return insert_ignoring_conflicts(
            self.session,
            JobRunRow,
            {
                "job": job,
                "scope": scope,
                "period": period,
                "claimed_at": now,
                "detail": detail or {},
            },
        )

    def claimed(self, job: str, scope: str, period: str) -> bool:
        """Whether the run is claimed already (a cheap look before preparing the work)."""
        found = self.session.scalar(
            select(JobRunRow.id).where(
                JobRunRow.job == job, JobRunRow.scope == scope, JobRunRow.period == period
            )
        )
        return found is not None

    def last_runs(self, job: str, limit: int = 5) -> list[tuple[str, str, datetime]]:
        """The most recent (scope, period, claimed_at) of ``job``."""
        rows = self.session.execute(
            select(JobRunRow.scope, JobRunRow.period, JobRunRow.claimed_at)
            .where(JobRunRow.job == job)
            .order_by(JobRunRow.claimed_at.desc(), JobRunRow.id.desc())
            .limit(limit)
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]

"""The runs mlgov follows in MLflow, and the sync's cursor.

Each effect of the sync is taken once, across replicas, by a guarded UPDATE in the
transaction that queues its messages (``check_start``, ``finish``): a second replica's
UPDATE finds the guard false and does nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.mlflow_runs import LinkedRun, Outcome
from storage.mlflow_rows import MlflowCursorRow, MlflowRunRow
from storage.models import ExperimentRow
from storage.sql import affected, insert_ignoring_conflicts

RUNS_CURSOR = "runs"
_COLUMNS = (MlflowRunRow, ExperimentRow.number)


def _linked(row: MlflowRunRow, number: int | None) -> LinkedRun:
    return LinkedRun(
        team_id=row.team_id,
        run_id=row.run_id,
        experiment_number=number,
        status=row.status,
        url=row.url,
        name=row.name,
        linked_by=row.linked_by,
        started_at=row.started_at,
        start_checked=row.start_checked,
        outcome=Outcome(row.outcome) if row.outcome else None,
        evaluation_id=row.evaluation_id,
        metrics=dict(row.metrics or {}),
        note=row.note,
    )


class MlflowRuns:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _select(self) -> Any:
        return select(*_COLUMNS).outerjoin(
            ExperimentRow, ExperimentRow.id == MlflowRunRow.experiment_id
        )

    def link(
        self,
        team_id: str,
        run_id: str,
        experiment_id: int | None,
        *,
        tag: str,
        status: str,
        url: str,
        name: str,
        linked_by: str,
        started_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Follow the run; False when it was followed already (nothing changes then)."""
        return insert_ignoring_conflicts(
            self.session,
            MlflowRunRow,
            {
                "team_id": team_id,
                "run_id": run_id,
                "experiment_id": experiment_id,
                "tag": tag[:64],
                "status": status[:16],
                "name": name[:250],
                "url": url[:2000],
                "linked_by": linked_by,
                "linked_at": now,
                "started_at": started_at,
                "start_checked": False,
                "outcome": Outcome.SKIPPED if experiment_id is None else None,
                "metrics": {},
                "note": "",
                "updated_at": now,
            },
        )

    def get(self, team_id: str, run_id: str) -> LinkedRun | None:
        found = self.session.execute(
            self._select().where(MlflowRunRow.team_id == team_id, MlflowRunRow.run_id == run_id)
        ).first()
        return _linked(*found) if found else None

    def known(self, run_ids: Collection[str]) -> dict[tuple[str, str], LinkedRun]:
        """The followed runs among ``run_ids``, by (team, run id)."""
        found: dict[tuple[str, str], LinkedRun] = {}
        ids = sorted(set(run_ids))
        for start in range(0, len(ids), 500):  # bound the IN list
            chunk = ids[start : start + 500]
            for row, number in self.session.execute(
                self._select().where(MlflowRunRow.run_id.in_(chunk))
            ):
                found[(row.team_id, row.run_id)] = _linked(row, number)
        return found

    def pending(self) -> list[LinkedRun]:
        """Runs the sync still has something to do with (oldest first)."""
        rows = self.session.execute(
            self._select().where(MlflowRunRow.outcome.is_(None)).order_by(MlflowRunRow.id)
        ).all()
        return [_linked(row, number) for row, number in rows]

    def of_experiment(self, experiment_id: int, limit: int = 20) -> list[LinkedRun]:
        """The experiment's runs, newest first."""
        rows = self.session.execute(
            self._select()
            .where(MlflowRunRow.experiment_id == experiment_id)
            .order_by(MlflowRunRow.id.desc())
            .limit(limit)
        ).all()
        return [_linked(row, number) for row, number in rows]

    def refresh(
        self, team_id: str, run_id: str, status: str, name: str, metrics: dict[str, float],
        now: datetime,
    ) -> None:
        """What MLflow says of the run now (status, name, its latest scalar metrics)."""
        self.session.execute(
            update(MlflowRunRow)
            .where(MlflowRunRow.team_id == team_id, MlflowRunRow.run_id == run_id)
            .values(status=status[:16], name=name[:250], metrics=metrics, updated_at=now)
        )

    def relink(self, team_id: str, run_id: str, experiment_id: int, now: datetime) -> None:
        """Give a run the sync skipped (its tag named no experiment) to ``experiment_id``."""
        self.session.execute(
            update(MlflowRunRow)
            .where(MlflowRunRow.team_id == team_id, MlflowRunRow.run_id == run_id)
            .values(experiment_id=experiment_id, outcome=None, note="", updated_at=now)
        )

    def check_start(self, team_id: str, run_id: str, now: datetime) -> bool:
        """Mark the run's Start question looked at; True for the one transaction that does."""
        statement = (
            update(MlflowRunRow)
            .where(
                MlflowRunRow.team_id == team_id,
                MlflowRunRow.run_id == run_id,
                MlflowRunRow.start_checked.is_(False),
            )
            .values(start_checked=True, updated_at=now)
        )
        return affected(self.session.execute(statement)) == 1

    def finish(
        self,
        team_id: str,
        run_id: str,
        outcome: Outcome,
        now: datetime,
        *,
        note: str = "",
        evaluation_id: int | None = None,
    ) -> bool:
        """Record what was done with the ended run; True for the one transaction that does."""
        statement = (
            update(MlflowRunRow)
            .where(
                MlflowRunRow.team_id == team_id,
                MlflowRunRow.run_id == run_id,
                MlflowRunRow.outcome.is_(None),
            )
            .values(outcome=outcome.value, note=note, evaluation_id=evaluation_id, updated_at=now)
        )
        return affected(self.session.execute(statement)) == 1

    def cursor(self) -> int | None:
        """Where the last sync left off (MLflow start time, ms), or None before the first."""
        return self.session.scalar(
            select(MlflowCursorRow.start_ms).where(MlflowCursorRow.name == RUNS_CURSOR)
        )

    def advance_cursor(self, start_ms: int, now: datetime) -> None:
        """Move the cursor forward to ``start_ms`` (never back: replicas may race)."""
        values = {"name": RUNS_CURSOR, "start_ms": start_ms, "updated_at": now}
        if insert_ignoring_conflicts(self.session, MlflowCursorRow, values):
            return
        self.session.execute(
            update(MlflowCursorRow)
            .where(MlflowCursorRow.name == RUNS_CURSOR, MlflowCursorRow.start_ms < start_ms)
            .values(start_ms=start_ms, updated_at=now)
        )

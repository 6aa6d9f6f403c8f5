"""Model versions of MLflow's registry that mlgov looked at, and the checks owed on them.

A check is owed (``due_at``) when a registry event names a version, when polling finds a
new version or alias, and when anything is recorded about the version's experiment (the
unit of work marks those with the change, see UnitOfWork.commit). Each mark bumps
``due_seq``; a check settles the row only if no mark came while it ran.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from bot.domain.registry import KnownVersion
from storage.models import UtcDateTime
from storage.registry_rows import RegistryVersionRow
from storage.sql import affected, insert_ignoring_conflicts


def _known(row: RegistryVersionRow) -> KnownVersion:
    return KnownVersion(
        row.id,
        row.model,
        row.version,
        row.run_id,
        row.experiment_id,
        row.gate,
        {str(k): str(v) for k, v in (row.wanted or {}).items()},
        tuple(row.aliases or ()),
        tuple(row.warned or ()),
        row.due_seq,
        row.attempts,
    )


class RegistryVersions:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.marked = 0  # checks made due in this unit of work (a worker is woken for them)

    def mark(self, model: str, version: str, now: datetime) -> None:
        """A check of this version is owed now (it becomes known if it was not)."""
        insert_ignoring_conflicts(
            self.session,
            RegistryVersionRow,
            {
                "model": model,
                "version": version,
                "gate": "",
                "wanted": {},
                "aliases": [],
                "warned": [],
                "due_seq": 0,
                "attempts": 0,
                "seen_at": now,
            },
        )
        self._due((RegistryVersionRow.model == model, RegistryVersionRow.version == version), now)

    def mark_experiments(self, experiment_ids: Collection[int], now: datetime) -> int:
        """Checks owed on every known version of these experiments (their gate may move)."""
        if not experiment_ids:
            return 0
        return self._due((RegistryVersionRow.experiment_id.in_(sorted(experiment_ids)),), now)

    def mark_run(self, run_id: str, now: datetime) -> int:
        """Checks owed on the known versions of ``run_id`` (it was just linked)."""
        return self._due((RegistryVersionRow.run_id == run_id,), now)

    def _due(self, where: tuple[Any, ...], now: datetime) -> int:
        # The earlier of the two: a version waiting out a backoff is looked at now.
        at = literal(now, UtcDateTime())
        earlier = func.least if self.session.get_bind().dialect.name == "postgresql" else func.min
        due = func.coalesce(earlier(RegistryVersionRow.due_at, at, type_=UtcDateTime()), at)
        count = affected(
            self.session.execute(
                update(RegistryVersionRow)
                .where(*where)
                .values(due_at=due, due_seq=RegistryVersionRow.due_seq + 1)
                .execution_options(synchronize_session=False)
            )
        )
        self.marked += count
        return count

    def get(self, model: str, version: str) -> KnownVersion | None:
        row = self.session.scalar(
            select(RegistryVersionRow).where(
                RegistryVersionRow.model == model, RegistryVersionRow.version == version
            )
        )
        return _known(row) if row is not None else None

    def lock(self, version_id: int) -> KnownVersion:
        """The version, held until this transaction ends (two checks decide one at a time)."""
        row = self.session.scalars(
            select(RegistryVersionRow)
            .where(RegistryVersionRow.id == version_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        return _known(row)

    def of_model(self, model: str) -> dict[str, tuple[str, ...]]:
        """Known versions of ``model`` with the aliases last read on each."""
        rows = self.session.execute(
            select(RegistryVersionRow.version, RegistryVersionRow.aliases).where(
                RegistryVersionRow.model == model
            )
        ).all()
        return {str(version): tuple(aliases or ()) for version, aliases in rows}

    def of_experiment(self, experiment_id: int) -> list[KnownVersion]:
        rows = self.session.scalars(
            select(RegistryVersionRow)
            .where(RegistryVersionRow.experiment_id == experiment_id)
            .order_by(RegistryVersionRow.model, RegistryVersionRow.id)
        ).all()
        return [_known(row) for row in rows]

    def due(self, now: datetime, limit: int = 50) -> list[KnownVersion]:
        """Versions whose check is owed by ``now``, longest waiting first."""
        rows = self.session.scalars(
            select(RegistryVersionRow)
            .where(RegistryVersionRow.due_at.is_not(None), RegistryVersionRow.due_at <= now)
            .order_by(RegistryVersionRow.due_at, RegistryVersionRow.id)
            .limit(limit)
        ).all()
        return [_known(row) for row in rows]

    def record(
        self,
        version_id: int,
        *,
        run_id: str,
        experiment_id: int | None,
        gate: str,
        wanted: dict[str, str],
        aliases: tuple[str, ...],
        warned: tuple[str, ...],
        now: datetime,
    ) -> None:
        """What a check decided (its tags are written to MLflow after the commit)."""
        self.session.execute(
            update(RegistryVersionRow)
            .where(RegistryVersionRow.id == version_id)
            .values(
                run_id=run_id,
                experiment_id=experiment_id,
                gate=gate,
                wanted=wanted,
                aliases=list(aliases),
                warned=list(warned),
                checked_at=now,
            )
            .execution_options(synchronize_session=False)
        )

    def settle(self, version_id: int, due_seq: int) -> bool:
        """The check is done, unless a new mark came meanwhile (then it stays due)."""
        return (
            affected(
                self.session.execute(
                    update(RegistryVersionRow)
                    .where(
                        RegistryVersionRow.id == version_id, RegistryVersionRow.due_seq == due_seq
                    )
                    .values(due_at=None, attempts=0, last_error=None)
                    .execution_options(synchronize_session=False)
                )
            )
            == 1
        )

    def retry_later(self, version_id: int, due_seq: int, at: datetime, error: str) -> None:
        """The check failed (MLflow away, say): owed again at ``at`` (unless a new mark
        came meanwhile: that one is owed now)."""
        self.session.execute(
            update(RegistryVersionRow)
            .where(RegistryVersionRow.id == version_id, RegistryVersionRow.due_seq == due_seq)
            .values(due_at=at, attempts=RegistryVersionRow.attempts + 1, last_error=error[:500])
            .execution_options(synchronize_session=False)
        )

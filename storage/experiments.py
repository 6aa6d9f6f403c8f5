"""The experiments repository: rows to domain experiments and back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.domain.errors import ConcurrentUpdate, NotFound
from bot.domain.model import (
    Direction,
    Experiment,
    Link,
    Outcome,
    Status,
    SuccessCriterion,
    Workstream,
    experiment_key,
)
from storage.models import (
    ExperimentRow,
    LinkRow,
    ProjectRow,
)
from storage.sql import affected

_EXPERIMENT_COLUMNS = (ExperimentRow, ProjectRow.slug)


def _experiment(row: ExperimentRow, slug: str, links: Iterable[LinkRow] = ()) -> Experiment:
    criterion = None
    if row.metric is not None:
        criterion = SuccessCriterion(
            row.metric, Direction(row.direction or "higher"), float(row.min_delta or 0.0)
        )
    return Experiment(
        id=row.id,
        team_id=row.team_id,
        number=row.number,
        project=slug,
        title=row.title,
        hypothesis=row.hypothesis,
        owner_id=row.owner_id,
        workstream=Workstream(row.workstream),
        criterion=criterion,
        status=Status(row.status),
        outcome=Outcome(row.outcome) if row.outcome else None,
        learnings=row.learnings,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        thread_ts=row.thread_ts,
        conclusions=row.conclusions,
        links=tuple(Link(x.url, x.label, x.added_by, x.created_at) for x in links),
    )


class Experiments:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, draft: Experiment, project_id: int) -> Experiment:
        """Insert ``draft`` (its id is ignored) and return it as stored."""
        c = draft.criterion
        row = ExperimentRow(
            team_id=draft.team_id,
            number=draft.number,
            project_id=project_id,
            title=draft.title,
            hypothesis=draft.hypothesis,
            owner_id=draft.owner_id,
            workstream=draft.workstream.value,
            metric=c.metric if c else None,
            direction=c.direction.value if c else None,
            min_delta=c.min_delta if c else None,
            status=draft.status.value,
            outcome=None,
            learnings="",
            thread_ts=None,
            version=1,
            conclusions=0,
            created_at=draft.created_at,
            updated_at=draft.updated_at,
        )
        self.session.add(row)
        self.session.flush()
        return _experiment(row, draft.project)

    def get(self, team_id: str, number: int) -> Experiment | None:
        found = self.session.execute(
            select(*_EXPERIMENT_COLUMNS)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(ExperimentRow.team_id == team_id, ExperimentRow.number == number)
        ).one_or_none()
        if found is None:
            return None
        row, slug = found
        links = self.session.scalars(
            select(LinkRow).where(LinkRow.experiment_id == row.id).order_by(LinkRow.id)
        ).all()
        return _experiment(row, slug, links)

    def by_id(self, experiment_id: int) -> Experiment | None:
        number = self.session.scalar(
            select(ExperimentRow.number).where(ExperimentRow.id == experiment_id)
        )
        team = self.session.scalar(
            select(ExperimentRow.team_id).where(ExperimentRow.id == experiment_id)
        )
        return None if number is None or team is None else self.get(team, number)

    def require(self, team_id: str, number: int) -> Experiment:
        experiment = self.get(team_id, number)
        if experiment is None:
            raise NotFound(f"No experiment {experiment_key(number)} in this workspace.")
        return experiment

    def save(self, experiment: Experiment) -> Experiment:
        """Write ``experiment`` if nobody changed it since it was read (optimistic lock)."""
        statement = (
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment.id, ExperimentRow.version == experiment.version)
            .values(
                status=experiment.status.value,
                outcome=experiment.outcome.value if experiment.outcome else None,
                learnings=experiment.learnings,
                conclusions=experiment.conclusions,
                updated_at=experiment.updated_at,
                version=ExperimentRow.version + 1,
            )
        )
        if affected(self.session.execute(statement)) != 1:
            raise ConcurrentUpdate(
                f"{experiment.key} was changed by someone else meanwhile; "
                f"look at it again (/exp show {experiment.key}) and retry."
            )
        return self.require(experiment.team_id, experiment.number)

    def idle_since(self, cutoff: datetime) -> list[Experiment]:
        """Unfinished experiments, in every workspace, unchanged since ``cutoff``."""
        # Finished, or waiting on engineering rather than on the owner.
        final = [
            Status.SHIPPED.value,
            Status.CLOSED.value,
            Status.ABANDONED.value,
            Status.APPROVED.value,
            Status.SCHEDULED.value,
        ]
        statement = (
            select(*_EXPERIMENT_COLUMNS)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(ExperimentRow.updated_at < cutoff, ExperimentRow.status.not_in(final))
            .order_by(ExperimentRow.id)
        )
        return [_experiment(row, slug) for row, slug in self.session.execute(statement).all()]

    def thread_of(self, experiment_id: int) -> str | None:
        return self.session.scalar(
            select(ExperimentRow.thread_ts).where(ExperimentRow.id == experiment_id)
        )

    def add_link(self, experiment: Experiment, link: Link) -> None:
        self.session.add(
            LinkRow(
                experiment_id=experiment.id,
                url=link.url,
                label=link.label,
                added_by=link.added_by,
                created_at=link.added_at,
            )
        )
        self.session.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment.id)
            .values(updated_at=link.added_at)
        )

    def find(
        self,
        team_id: str,
        *,
        project: str | None = None,
        owner_id: str | None = None,
        statuses: Iterable[Status] | None = None,
        workstream: Workstream | None = None,
        limit: int = 200,
    ) -> list[Experiment]:
        statement = (
            select(*_EXPERIMENT_COLUMNS)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(ExperimentRow.team_id == team_id)
        )
        if project is not None:
            statement = statement.where(ProjectRow.slug == project)
        if owner_id is not None:
            statement = statement.where(ExperimentRow.owner_id == owner_id)
        if statuses is not None:
            statement = statement.where(ExperimentRow.status.in_([s.value for s in statuses]))
        if workstream is not None:
            statement = statement.where(ExperimentRow.workstream == workstream.value)
        statement = statement.order_by(ExperimentRow.number.desc()).limit(limit)
        return [_experiment(row, slug) for row, slug in self.session.execute(statement).all()]

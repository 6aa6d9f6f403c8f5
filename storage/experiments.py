"""The experiments repository: rows to domain experiments and back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select, union_all, update
from sqlalchemy.orm import InstrumentedAttribute, Session

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
    AuditRow,
    EvaluationRow,
    ExperimentRow,
    LinkRow,
    ParityRow,
    ProjectRow,
    ReviewDecisionRow,
    ReviewRow,
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
        criterion_changed_after_start=bool(row.criterion_changed_after_start),
        links=tuple(Link(x.url, x.label, x.added_by, x.created_at) for x in links),
    )


def _activity(
    correlated: InstrumentedAttribute[int] | None, ids: list[int] | None = None
) -> list[tuple[Select[tuple[int, datetime]], ColumnElement[datetime]]]:
    """What counts as activity on an experiment, as (experiment id, when) per source:
    for one experiment (``correlated`` to an outer query) or for ``ids``."""
    sources: list[tuple[Any, Any, Any]] = [
        (AuditRow.experiment_id, AuditRow.created_at, None),
        (ReviewRow.experiment_id, ReviewRow.requested_at, None),
        (ReviewRow.experiment_id, ReviewDecisionRow.decided_at, ReviewRow),
        (EvaluationRow.experiment_id, EvaluationRow.created_at, None),
        (ParityRow.experiment_id, ParityRow.created_at, None),
        (LinkRow.experiment_id, LinkRow.created_at, None),
    ]
    found = []
    for eid, at, joined in sources:
        query = select(eid.label("eid"), at.label("at"))
        if joined is not None:
            query = query.select_from(ReviewDecisionRow).join(
                ReviewRow, ReviewRow.id == ReviewDecisionRow.review_id
            )
        if correlated is not None:
            query = query.where(eid == correlated)
        else:
            query = query.where(eid.in_(ids or []))
        found.append((query, at))
    return found


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
        c = experiment.criterion
        statement = (
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment.id, ExperimentRow.version == experiment.version)
            .values(
                title=experiment.title,
                hypothesis=experiment.hypothesis,
                workstream=experiment.workstream.value,
                metric=c.metric if c else None,
                direction=c.direction.value if c else None,
                min_delta=c.min_delta if c else None,
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

    def idle_since(self, cutoff: datetime) -> list[tuple[Experiment, datetime]]:
        """Unfinished experiments, in every workspace, with no activity since ``cutoff``,
        each with its last activity: any audited change, review request or decision,
        evaluation, parity check or link, whichever came last."""
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
            .where(
                ExperimentRow.updated_at < cutoff,
                ExperimentRow.status.not_in(final),
                *(~exists(q.where(at >= cutoff)) for q, at in _activity(ExperimentRow.id)),
            )
            .order_by(ExperimentRow.id)
        )
        idle = [_experiment(row, slug) for row, slug in self.session.execute(statement).all()]
        events = union_all(*(q for q, _ in _activity(None, [e.id for e in idle]))).subquery()
        last = {
            eid: at
            for eid, at in self.session.execute(
                select(events.c.eid, func.max(events.c.at)).group_by(events.c.eid)
            ).all()
        }
        return [(e, max(e.updated_at, last.get(e.id) or e.updated_at)) for e in idle]

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
        before: int | None = None,
    ) -> list[Experiment]:
        """Newest first (by number); ``before``: only numbers below it (the next page)."""
        statement = self._matching(team_id, project, owner_id, statuses, workstream)
        if before is not None:
            statement = statement.where(ExperimentRow.number < before)
        statement = statement.order_by(ExperimentRow.number.desc()).limit(limit)
        return [_experiment(row, slug) for row, slug in self.session.execute(statement).all()]

    def count(
        self,
        team_id: str,
        *,
        project: str | None = None,
        owner_id: str | None = None,
        statuses: Iterable[Status] | None = None,
    ) -> int:
        """How many experiments ``find`` would list without a limit."""
        matching = self._matching(team_id, project, owner_id, statuses, None).subquery()
        return int(self.session.scalar(select(func.count()).select_from(matching)) or 0)

    def _matching(
        self,
        team_id: str,
        project: str | None,
        owner_id: str | None,
        statuses: Iterable[Status] | None,
        workstream: Workstream | None,
    ) -> Select[tuple[ExperimentRow, str]]:
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
        return statement

"""Repositories: the only code that turns rows into domain objects and back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, insert, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.domain.errors import ConcurrentUpdate, NotFound
from bot.domain.model import (
    AuditEntry,
    Direction,
    Experiment,
    Link,
    Member,
    Outcome,
    OutgoingMessage,
    Project,
    ProjectRules,
    Role,
    Status,
    SuccessCriterion,
    Workstream,
    experiment_key,
)
from bot.domain.rules import rules_from_dict, rules_to_dict
from storage.models import (
    AuditRow,
    ExperimentRow,
    LinkRow,
    MemberRow,
    OutboxRow,
    ProcessedEventRow,
    ProjectRow,
    RoleRow,
    WorkspaceRow,
)

DUE_NOW = datetime(2000, 1, 1, tzinfo=UTC)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT touched."""
    return int(cast("CursorResult[Any]", result).rowcount)


def insert_ignoring_conflicts(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted.

    Whether a row came back from RETURNING is the answer: psycopg reports no rowcount
    for such an INSERT (SQLAlchemy gives -1), so rowcount would say "inserted" always.
    """
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = inspect(table).primary_key[0]
    statement = module.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).first() is not None


class Workspaces:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ensure(self, team_id: str, now: datetime, name: str = "") -> None:
        """Create the workspace row on first sight."""
        insert_ignoring_conflicts(
            self.session,
            WorkspaceRow,
            {"team_id": team_id, "name": name, "next_experiment_number": 1, "created_at": now},
        )

    def lock(self, team_id: str) -> None:
        """Serialise this transaction with others of the workspace that also lock it.

        Used where a decision counts rows that other transactions may be adding to (WIP
        limits): PostgreSQL takes the row lock; SQLite writers are serial already.
        """
        # FOR NO KEY UPDATE: rows referencing the workspace (audit, experiments) take KEY
        # SHARE on it, which FOR UPDATE would block, deadlocking with a concurrent change.
        self.session.execute(
            select(WorkspaceRow.team_id)
            .where(WorkspaceRow.team_id == team_id)
            .with_for_update(key_share=True)
        )

    def allocate_experiment_number(self, team_id: str) -> int:
        """The next EXP number of the workspace, taken under the workspace row's lock."""
        statement = (
            update(WorkspaceRow)
            .where(WorkspaceRow.team_id == team_id)
            .values(next_experiment_number=WorkspaceRow.next_experiment_number + 1)
            .returning(WorkspaceRow.next_experiment_number)
        )
        number = self.session.execute(statement).scalar_one()
        return int(number) - 1


class Members:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, team_id: str, user_id: str) -> Member | None:
        row = self.session.scalars(
            select(MemberRow).where(MemberRow.team_id == team_id, MemberRow.user_id == user_id)
        ).one_or_none()
        return None if row is None else self._load([row])[0]

    def all_in(self, team_id: str) -> list[Member]:
        rows = self.session.scalars(
            select(MemberRow).where(MemberRow.team_id == team_id).order_by(MemberRow.id)
        ).all()
        return self._load(rows)

    def find_by_name(self, team_id: str, name: str) -> Member | None:
        row = self.session.scalars(
            select(MemberRow).where(
                MemberRow.team_id == team_id, func.lower(MemberRow.name) == name.lower()
            )
        ).first()
        return None if row is None else self._load([row])[0]

    def add_role(
        self,
        team_id: str,
        user_id: str,
        role: Role,
        project_id: int | None,
        now: datetime,
        name: str = "",
    ) -> bool:
        """Grant ``role``; False when the member had it already."""
        insert_ignoring_conflicts(
            self.session,
            MemberRow,
            {"team_id": team_id, "user_id": user_id, "name": name, "created_at": now},
        )
        member = self.session.scalars(
            select(MemberRow).where(MemberRow.team_id == team_id, MemberRow.user_id == user_id)
        ).one()
        if name and member.name != name:
            member.name = name
        return insert_ignoring_conflicts(
            self.session,
            RoleRow,
            {
                "member_id": member.id,
                "role": role.value,
                "project_id": project_id,
                "created_at": now,
            },
        )

    def remove_roles(
        self, team_id: str, user_id: str, role: Role | None, project_id: int | None
    ) -> int:
        """Remove matching roles (all roles when ``role`` is None); returns how many."""
        member_id = (
            select(MemberRow.id)
            .where(MemberRow.team_id == team_id, MemberRow.user_id == user_id)
            .scalar_subquery()
        )
        statement = delete(RoleRow).where(RoleRow.member_id == member_id)
        if role is not None:
            statement = statement.where(RoleRow.role == role.value)
        if project_id is not None:
            statement = statement.where(RoleRow.project_id == project_id)
        return affected(self.session.execute(statement))

    def _load(self, rows: Sequence[MemberRow]) -> list[Member]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        grants = self.session.execute(
            select(RoleRow.member_id, RoleRow.role, ProjectRow.slug)
            .outerjoin(ProjectRow, ProjectRow.id == RoleRow.project_id)
            .where(RoleRow.member_id.in_(ids))
        ).all()
        workspace: dict[int, set[Role]] = {i: set() for i in ids}
        per_project: dict[int, dict[str, set[Role]]] = {i: {} for i in ids}
        for member_id, role, slug in grants:
            if slug is None:
                workspace[member_id].add(Role(role))
            else:
                per_project[member_id].setdefault(slug, set()).add(Role(role))
        return [
            Member(
                team_id=r.team_id,
                user_id=r.user_id,
                name=r.name,
                roles=frozenset(workspace[r.id]),
                project_roles={s: frozenset(v) for s, v in per_project[r.id].items()},
            )
            for r in rows
        ]


def _project(row: ProjectRow) -> Project:
    return Project(
        id=row.id,
        team_id=row.team_id,
        slug=row.slug,
        channel_id=row.channel_id,
        rules=rules_from_dict(row.rules or {}),
        created_at=row.created_at,
    )


class Projects:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, team_id: str, slug: str) -> Project | None:
        row = self.session.scalars(
            select(ProjectRow).where(ProjectRow.team_id == team_id, ProjectRow.slug == slug)
        ).one_or_none()
        return None if row is None else _project(row)

    def require(self, team_id: str, slug: str) -> Project:
        project = self.get(team_id, slug)
        if project is None:
            known = ", ".join(p.slug for p in self.all_in(team_id)) or "none yet"
            raise NotFound(f"No project '{slug}' (projects: {known}).")
        return project

    def all_in(self, team_id: str) -> list[Project]:
        rows = self.session.scalars(
            select(ProjectRow).where(ProjectRow.team_id == team_id).order_by(ProjectRow.slug)
        ).all()
        return [_project(r) for r in rows]

    def everywhere(self) -> list[Project]:
        """Every project of every workspace (for scheduled jobs)."""
        rows = self.session.scalars(select(ProjectRow).order_by(ProjectRow.id)).all()
        return [_project(r) for r in rows]

    def by_channel(self, team_id: str, channel_id: str) -> Project | None:
        row = self.session.scalars(
            select(ProjectRow)
            .where(ProjectRow.team_id == team_id, ProjectRow.channel_id == channel_id)
            .order_by(ProjectRow.id)
        ).first()
        return None if row is None else _project(row)

    def add(self, team_id: str, slug: str, channel_id: str, now: datetime) -> Project | None:
        """Create the project; None when the slug is taken."""
        inserted = insert_ignoring_conflicts(
            self.session,
            ProjectRow,
            {
                "team_id": team_id,
                "slug": slug,
                "channel_id": channel_id,
                "rules": rules_to_dict(ProjectRules()),
                "created_at": now,
            },
        )
        return self.get(team_id, slug) if inserted else None

    def set_rules(self, project_id: int, rules: ProjectRules) -> None:
        self.session.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(rules=rules_to_dict(rules))
        )


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

    def set_thread(self, experiment_id: int, ts: str) -> None:
        self.session.execute(
            update(ExperimentRow).where(ExperimentRow.id == experiment_id).values(thread_ts=ts)
        )

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


class Audit:
    def __init__(self, session: Session) -> None:
        self.session = session

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
    ) -> None:
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
        """Audit entries with ``actions``, oldest first, as plain records for export."""
        statement = (
            select(AuditRow, ExperimentRow.number, ProjectRow.slug)
            .outerjoin(ExperimentRow, ExperimentRow.id == AuditRow.experiment_id)
            .outerjoin(ProjectRow, ProjectRow.id == AuditRow.project_id)
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
                "action": row.action,
                "from": row.from_status,
                "to": row.to_status,
                "conclusion": (row.detail or {}).get("conclusion"),
                "evaluation": (row.detail or {}).get("evaluation"),
                "detail": dict(row.detail or {}),
            }
            for row, number, slug in self.session.execute(statement).all()
        ]


class ProcessedEvents:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, team_id: str, event_id: str, now: datetime) -> bool:
        """Record ``event_id`` as handled in this transaction; False if it already was.

        The claim commits or rolls back with the event's effect, so a delivery whose
        handling failed is not marked seen and a retry can still do the work.
        """
        return insert_ignoring_conflicts(
            self.session,
            ProcessedEventRow,
            {"team_id": team_id, "event_id": event_id, "processed_at": now},
        )

    def forget_before(self, cutoff: datetime) -> int:
        statement = delete(ProcessedEventRow).where(ProcessedEventRow.processed_at < cutoff)
        return affected(self.session.execute(statement))


class Outbox:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.added = 0

    def add(self, message: OutgoingMessage, now: datetime) -> None:
        self.session.add(
            OutboxRow(
                team_id=message.team_id,
                channel=message.channel,
                method=message.method,
                payload=message.payload,
                experiment_id=message.experiment_id,
                thread_root=message.thread_root,
                ref=message.ref,
                created_at=now,
                attempts=0,
                # Due at once in real time, even when ``now`` is a job's --as-of time:
                # a future timestamp would hold back the whole channel until then.
                next_attempt_at=DUE_NOW,
                sent_at=None,
                dead=False,
            )
        )
        self.added += 1

    def forget_delivered_before(self, cutoff: datetime) -> int:
        """Delete messages delivered before ``cutoff`` (failed ones stay for inspection, and
        named ones stay: a later chat.update finds its message's ts through them)."""
        statement = delete(OutboxRow).where(OutboxRow.sent_at < cutoff, OutboxRow.ref.is_(None))
        return affected(self.session.execute(statement))

"""Repositories of the workspace, its members and projects, event ids and the outbox.

Experiments and the audit log have modules of their own; the names re-exported here
keep older imports working.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.domain.errors import NotFound
from bot.domain.model import (
    Member,
    OutgoingMessage,
    Project,
    ProjectRules,
    Role,
)
from bot.domain.rules import rules_from_dict, rules_to_dict
from bot.domain.workspace_rules import (
    WorkspaceRules,
    workspace_rules_from_dict,
    workspace_rules_to_dict,
)
from storage.audit import Audit
from storage.experiments import Experiments
from storage.models import (
    MemberRow,
    OutboxRow,
    ProcessedEventRow,
    ProjectRow,
    RoleRow,
    WorkspaceRow,
)
from storage.sql import affected, insert_ignoring_conflicts

__all__ = [
    "DUE_NOW",
    "Audit",
    "Experiments",
    "Members",
    "Outbox",
    "ProcessedEvents",
    "Projects",
    "Workspaces",
    "affected",
    "insert_ignoring_conflicts",
]


DUE_NOW = datetime(2000, 1, 1, tzinfo=UTC)


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

    def team_ids(self) -> list[str]:
        return list(
            self.session.scalars(select(WorkspaceRow.team_id).order_by(WorkspaceRow.team_id))
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

    def rules(self, team_id: str) -> WorkspaceRules:
        """The workspace's rules (the defaults for a workspace never seen or set)."""
        stored = self.session.scalar(
            select(WorkspaceRow.rules).where(WorkspaceRow.team_id == team_id)
        )
        return workspace_rules_from_dict(stored)

    def set_rules(self, team_id: str, rules: WorkspaceRules) -> None:
        self.session.execute(
            update(WorkspaceRow)
            .where(WorkspaceRow.team_id == team_id)
            .values(rules=workspace_rules_to_dict(rules))
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

    def by_id(self, project_id: int) -> Project | None:
        row = self.session.get(ProjectRow, project_id)
        return None if row is None else _project(row)

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

    def seen(self, team_id: str, event_id: str) -> bool:
        """Whether ``event_id`` was handled already (a cheap look before slow work)."""
        found = self.session.get(ProcessedEventRow, (team_id, event_id))
        return found is not None

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

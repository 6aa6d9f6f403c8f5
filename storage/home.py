"""App Home storage: who opened the Home tab, and the few queries one Home is built from.

Each query answers for a whole Home (or a whole job run) at once, so building a Home costs
the same handful of queries however many experiments, reviews or projects it shows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from bot.domain.lifecycle import FINAL, IN_FLIGHT
from bot.domain.model import Experiment, Status
from bot.domain.review import ReviewKind, Verdict
from storage.experiments import _EXPERIMENT_COLUMNS, _experiment
from storage.models import (
    AuditRow,
    ExperimentRow,
    HomeViewRow,
    MemberRow,
    ProjectRow,
    ReviewAssignmentRow,
    ReviewRow,
    RoleRow,
)
from storage.sql import insert_ignoring_conflicts

_OPEN_STATUSES = [s.value for s in Status if s not in FINAL]


@dataclass(frozen=True)
class Viewer:
    """Someone who opened the Home tab; ``current_to``: changes before it are shown."""

    team_id: str
    user_id: str
    current_to: datetime


@dataclass(frozen=True)
class Change:
    """An audit entry, with what the Home job needs to tell whom it concerns."""

    team_id: str
    at: datetime
    actor_id: str
    action: str
    project_id: int | None
    experiment_id: int | None
    owner_id: str | None
    to_status: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class WaitingReview:
    """A review waiting on one reviewer: the experiment, the review and the assignment."""

    experiment: Experiment
    review_id: int
    kind: ReviewKind
    assigned_at: datetime
    needs_reviewer: bool = False  # nobody else could take it over (managers told)


class Homes:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- who has the Home tab open ---------------------------------------------------

    def opened(self, team_id: str, user_id: str, now: datetime) -> None:
        """Record that ``user_id`` opened the Home tab at ``now``."""
        inserted = insert_ignoring_conflicts(
            self.session,
            HomeViewRow,
            {"team_id": team_id, "user_id": user_id, "opened_at": now, "published_at": None},
        )
        if not inserted:
            self.session.execute(
                update(HomeViewRow)
                .where(HomeViewRow.team_id == team_id, HomeViewRow.user_id == user_id)
                .values(opened_at=now)
            )

    def published(self, team_id: str, user_id: str, current_to: datetime) -> None:
        """The Home as just published shows every change before ``current_to``.

        Never moves back: a slower publish must not undo what a newer one recorded.
        """
        self.session.execute(
            update(HomeViewRow)
            .where(
                HomeViewRow.team_id == team_id,
                HomeViewRow.user_id == user_id,
                or_(HomeViewRow.published_at.is_(None), HomeViewRow.published_at < current_to),
            )
            .values(published_at=current_to)
        )

    def viewers(self) -> list[Viewer]:
        """Everyone who has opened the Home tab, in every workspace."""
        rows = self.session.execute(
            select(
                HomeViewRow.team_id,
                HomeViewRow.user_id,
                HomeViewRow.published_at,
                HomeViewRow.opened_at,
            ).order_by(HomeViewRow.team_id, HomeViewRow.user_id)
        ).all()
        return [Viewer(t, u, published or opened) for t, u, published, opened in rows]

    def advance(self, current_to: datetime, skip: Collection[tuple[str, str]]) -> None:
        """Everyone but ``skip`` (team, user) was unaffected by changes before
        ``current_to``: their published Homes are current up to it."""
        statement = update(HomeViewRow).where(
            or_(HomeViewRow.published_at.is_(None), HomeViewRow.published_at < current_to)
        )
        if skip:
            pairs = list(skip)
            statement = statement.where(
                tuple_(HomeViewRow.team_id, HomeViewRow.user_id).not_in(pairs)
            )
        self.session.execute(statement.values(published_at=current_to))

    # --- what changed ------------------------------------------------------------------

    def changes(self, team_ids: Iterable[str], since: datetime, until: datetime) -> list[Change]:
        """Audit entries of the workspaces created in ``(since, until]``, oldest first."""
        # By workspace, so that the (team_id, created_at) index finds the few recent rows.
        rows = self.session.execute(
            select(AuditRow, ExperimentRow.owner_id)
            .outerjoin(ExperimentRow, ExperimentRow.id == AuditRow.experiment_id)
            .where(
                AuditRow.team_id.in_(sorted(set(team_ids))),
                AuditRow.created_at > since,
                AuditRow.created_at <= until,
            )
            .order_by(AuditRow.created_at, AuditRow.id)
        ).all()
        return [
            Change(
                r.team_id,
                r.created_at,
                r.actor_id,
                r.action,
                r.project_id,
                r.experiment_id,
                owner,
                r.to_status,
                dict(r.detail or {}),
            )
            for r, owner in rows
        ]

    def reviewers_of(self, experiment_ids: Iterable[int]) -> dict[int, set[str]]:
        """Everyone ever assigned to review each experiment (any verdict, open or not)."""
        ids = sorted(set(experiment_ids))
        if not ids:
            return {}
        found: dict[int, set[str]] = {}
        for experiment_id, reviewer in self.session.execute(
            select(ReviewRow.experiment_id, ReviewAssignmentRow.reviewer)
            .join(ReviewAssignmentRow, ReviewAssignmentRow.review_id == ReviewRow.id)
            .where(ReviewRow.experiment_id.in_(ids))
            .distinct()
        ).all():
            found.setdefault(experiment_id, set()).add(reviewer)
        return found

    def people_on(self, project_ids: Iterable[int]) -> dict[int, set[str]]:
        """Per project: its members, and the workspace's members with workspace-wide roles
        (they are on every project)."""
        ids = sorted(set(project_ids))
        if not ids:
            return {}
        teams = dict(
            self.session.execute(
                select(ProjectRow.id, ProjectRow.team_id).where(ProjectRow.id.in_(ids))
            )
            .tuples()
            .all()
        )
        rows = self.session.execute(
            select(RoleRow.project_id, MemberRow.team_id, MemberRow.user_id)
            .join(MemberRow, MemberRow.id == RoleRow.member_id)
            .where(
                or_(
                    RoleRow.project_id.in_(ids),
                    and_(RoleRow.project_id.is_(None), MemberRow.team_id.in_(set(teams.values()))),
                )
            )
            .distinct()
        ).all()
        everywhere: dict[str, set[str]] = {}
        found: dict[int, set[str]] = {i: set() for i in ids}
        for project_id, team_id, user_id in rows:
            if project_id is None:
                everywhere.setdefault(team_id, set()).add(user_id)
            else:
                found[project_id].add(user_id)
        for project_id, team_id in teams.items():
            found[project_id] |= everywhere.get(team_id, set())
        return found

    # --- what one Home shows -----------------------------------------------------------

    def open_experiments(
        self, team_id: str, owner_id: str, limit: int
    ) -> tuple[list[Experiment], int]:
        """The owner's unfinished experiments (newest first, at most ``limit``), and how many
        there are in all."""
        where = (
            ExperimentRow.team_id == team_id,
            ExperimentRow.owner_id == owner_id,
            ExperimentRow.status.in_(_OPEN_STATUSES),
        )
        total = self.session.scalar(select(func.count()).select_from(ExperimentRow).where(*where))
        rows = self.session.execute(
            select(*_EXPERIMENT_COLUMNS)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(*where)
            .order_by(ExperimentRow.number.desc())
            .limit(limit)
        ).all()
        return [_experiment(row, slug) for row, slug in rows], int(total or 0)

    def waiting_on(
        self, team_id: str, reviewer: str, limit: int
    ) -> tuple[list[WaitingReview], int]:
        """Open reviews waiting on ``reviewer`` (oldest assignment first, at most ``limit``),
        and how many there are in all.

        Waiting means: the reviewer's verdict is pending, and the review is the
        experiment's current business (a results review while it is in review, a design
        review while it is proposed), as ``services.reviews.waits_on_reviewers`` says.
        """
        where = (
            ReviewRow.team_id == team_id,
            ReviewRow.is_open,
            ReviewAssignmentRow.reviewer == reviewer,
            ReviewAssignmentRow.verdict == Verdict.PENDING.value,
            or_(
                and_(
                    ReviewRow.kind == ReviewKind.RESULTS.value,
                    ExperimentRow.status == Status.IN_REVIEW.value,
                ),
                and_(
                    ReviewRow.kind == ReviewKind.DESIGN.value,
                    ExperimentRow.status == Status.PROPOSED.value,
                ),
            ),
        )
        joined = (
            select(
                *_EXPERIMENT_COLUMNS,
                ReviewRow.id,
                ReviewRow.kind,
                ReviewAssignmentRow.assigned_at,
                ReviewRow.needs_reviewer_since,
            )
            .select_from(ReviewAssignmentRow)
            .join(ReviewRow, ReviewRow.id == ReviewAssignmentRow.review_id)
            .join(ExperimentRow, ExperimentRow.id == ReviewRow.experiment_id)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(*where)
        )
        total = self.session.scalar(
            select(func.count())
            .select_from(ReviewAssignmentRow)
            .join(ReviewRow, ReviewRow.id == ReviewAssignmentRow.review_id)
            .join(ExperimentRow, ExperimentRow.id == ReviewRow.experiment_id)
            .where(*where)
        )
        rows = self.session.execute(
            joined.order_by(ReviewAssignmentRow.assigned_at, ReviewRow.id).limit(limit)
        ).all()
        return [
            WaitingReview(
                _experiment(row, slug), review_id, ReviewKind(kind), assigned_at, needs is not None
            )
            for row, slug, review_id, kind, assigned_at, needs in rows
        ], int(total or 0)

    def status_counts(self, project_ids: Iterable[int]) -> dict[int, dict[Status, int]]:
        """Experiments per project and status (statuses without any are left out)."""
        ids = sorted(set(project_ids))
        found: dict[int, dict[Status, int]] = {i: {} for i in ids}
        if not ids:
            return found
        for project_id, status, count in self.session.execute(
            select(ExperimentRow.project_id, ExperimentRow.status, func.count())
            .where(ExperimentRow.project_id.in_(ids))
            .group_by(ExperimentRow.project_id, ExperimentRow.status)
        ).all():
            found[project_id][Status(status)] = int(count)
        return found

    def in_flight_by_stream(self, team_id: str, owner_id: str) -> dict[str, int]:
        """The owner's running and analyzing experiments per workstream, workspace-wide
        (the count a WIP limit is checked against)."""
        rows = self.session.execute(
            select(ExperimentRow.workstream, func.count())
            .where(
                ExperimentRow.team_id == team_id,
                ExperimentRow.owner_id == owner_id,
                ExperimentRow.status.in_([s.value for s in IN_FLIGHT]),
            )
            .group_by(ExperimentRow.workstream)
        ).all()
        return {stream: int(count) for stream, count in rows}

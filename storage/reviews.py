"""Review storage: requests, who is assigned, and every decision (kept forever)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.domain.review import Assignment, Decision, Review, ReviewKind, Verdict
from storage.models import ReviewAssignmentRow, ReviewDecisionRow, ReviewRow
from storage.sql import affected


class Reviews:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        team_id: str,
        experiment_id: int,
        kind: ReviewKind,
        requested_by: str,
        now: datetime,
        conclusion: int,
    ) -> int:
        """Open a review, closing (superseding) any open one of the same kind."""
        self.session.execute(
            update(ReviewRow)
            .where(
                ReviewRow.experiment_id == experiment_id,
                ReviewRow.kind == kind.value,
                ReviewRow.is_open,
            )
            .values(is_open=False)
        )
        row = ReviewRow(
            team_id=team_id,
            experiment_id=experiment_id,
            kind=kind.value,
            requested_by=requested_by,
            requested_at=now,
            is_open=True,
            conclusion=conclusion,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def assign(self, review_id: int, reviewer: str, now: datetime) -> None:
        self.session.add(
            ReviewAssignmentRow(
                review_id=review_id,
                reviewer=reviewer,
                assigned_at=now,
                verdict=Verdict.PENDING.value,
            )
        )

    def set_verdict(self, review_id: int, reviewer: str, verdict: Verdict, now: datetime) -> bool:
        """Record an assigned reviewer's verdict; False when they were not assigned."""
        return bool(
            affected(
                self.session.execute(
                    update(ReviewAssignmentRow)
                    .where(
                        ReviewAssignmentRow.review_id == review_id,
                        ReviewAssignmentRow.reviewer == reviewer,
                    )
                    .values(verdict=verdict.value, decided_at=now)
                )
            )
        )

    def decide(self, review_id: int, decision: Decision) -> None:
        self.session.add(
            ReviewDecisionRow(
                review_id=review_id,
                reviewer=decision.reviewer,
                approve=decision.approve,
                decided_at=decision.at,
                conclusion=decision.conclusion,
                evaluation_id=decision.evaluation,
                dismissed=False,
                text=decision.text,
            )
        )

    def dismiss_approvals_before(
        self, experiment_id: int, conclusion: int, evaluation: int | None = None
    ) -> int:
        """Newer results: approvals of an older conclusion no longer count, nor (with
        ``evaluation``) results approvals given before that evaluation arrived."""
        reviews = select(ReviewRow.id).where(ReviewRow.experiment_id == experiment_id)
        older = ReviewDecisionRow.conclusion < conclusion
        if evaluation is not None:
            results = reviews.where(ReviewRow.kind == "results")
            older = older | (
                ReviewDecisionRow.review_id.in_(results)
                & (
                    ReviewDecisionRow.evaluation_id.is_(None)
                    | (ReviewDecisionRow.evaluation_id < evaluation)
                )
            )
        return affected(
            self.session.execute(
                update(ReviewDecisionRow)
                .where(
                    ReviewDecisionRow.review_id.in_(reviews),
                    ReviewDecisionRow.approve,
                    older,
                    ReviewDecisionRow.dismissed.is_(False),
                )
                .values(dismissed=True)
            )
        )

    def close_open(self, experiment_id: int) -> int:
        """Close every open review of an experiment (it was abandoned)."""
        return affected(
            self.session.execute(
                update(ReviewRow)
                .where(ReviewRow.experiment_id == experiment_id, ReviewRow.is_open)
                .values(is_open=False)
            )
        )

    def needs_reviewer(self, review_id: int, since: datetime | None) -> bool:
        """Flag the review as needing a reviewer (``since``) or staffed again (None);
        True when the flag changed (so that managers are told once)."""
        row = self.session.get(ReviewRow, review_id)
        if row is None or (row.needs_reviewer_since is None) == (since is None):
            return False
        row.needs_reviewer_since = since
        self.session.flush()
        return True

    def close(self, review_id: int) -> None:
        self.session.execute(
            update(ReviewRow).where(ReviewRow.id == review_id).values(is_open=False)
        )

    def get(self, review_id: int) -> Review | None:
        row = self.session.get(ReviewRow, review_id)
        return None if row is None else self._load(row)

    def latest(self, experiment_id: int, kind: ReviewKind | None = None) -> Review | None:
        """The most recent review of the experiment (of ``kind``), open or not."""
        statement = select(ReviewRow).where(ReviewRow.experiment_id == experiment_id)
        if kind is not None:
            statement = statement.where(ReviewRow.kind == kind.value)
        row = self.session.scalars(statement.order_by(ReviewRow.id.desc()).limit(1)).first()
        return None if row is None else self._load(row)

    def of_experiment(self, experiment_id: int) -> list[Review]:
        """Every review of the experiment, oldest first."""
        rows = self.session.scalars(
            select(ReviewRow).where(ReviewRow.experiment_id == experiment_id).order_by(ReviewRow.id)
        ).all()
        return [self._load(r) for r in rows]

    def open_for(self, team_id: str) -> list[tuple[Review, int]]:
        """Open reviews of the workspace with their experiment ids, oldest first."""
        rows = self.session.scalars(
            select(ReviewRow)
            .where(ReviewRow.team_id == team_id, ReviewRow.is_open)
            .order_by(ReviewRow.id)
        ).all()
        return [(self._load(r), r.experiment_id) for r in rows]

    def everywhere_open(self) -> list[tuple[str, Review]]:
        rows = self.session.scalars(
            select(ReviewRow).where(ReviewRow.is_open).order_by(ReviewRow.id)
        ).all()
        return [(r.team_id, self._load(r)) for r in rows]

    def workload(self, team_id: str) -> dict[str, tuple[int, datetime | None]]:
        """Per reviewer: open assignments, and when they were last assigned anything."""
        pending = dict(
            self.session.execute(
                select(ReviewAssignmentRow.reviewer, func.count())
                .join(ReviewRow, ReviewRow.id == ReviewAssignmentRow.review_id)
                .where(
                    ReviewRow.team_id == team_id,
                    ReviewRow.is_open,
                    ReviewAssignmentRow.verdict == Verdict.PENDING.value,
                )
                .group_by(ReviewAssignmentRow.reviewer)
            )
            .tuples()
            .all()
        )
        last = dict(
            self.session.execute(
                select(ReviewAssignmentRow.reviewer, func.max(ReviewAssignmentRow.assigned_at))
                .join(ReviewRow, ReviewRow.id == ReviewAssignmentRow.review_id)
                .where(ReviewRow.team_id == team_id)
                .group_by(ReviewAssignmentRow.reviewer)
            )
            .tuples()
            .all()
        )
        return {u: (int(pending.get(u, 0)), last.get(u)) for u in set(pending) | set(last)}

    def _load(self, row: ReviewRow) -> Review:
        decisions = self.session.scalars(
            select(ReviewDecisionRow)
            .where(ReviewDecisionRow.review_id == row.id)
            .order_by(ReviewDecisionRow.id)
        ).all()
        assignments = self.session.scalars(
            select(ReviewAssignmentRow)
            .where(ReviewAssignmentRow.review_id == row.id)
            .order_by(ReviewAssignmentRow.id)
        ).all()
        return Review(
            id=row.id,
            experiment_id=row.experiment_id,
            kind=ReviewKind(row.kind),
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            open=row.is_open,
            needs_reviewer_since=row.needs_reviewer_since,
            decisions=tuple(
                Decision(
                    d.reviewer,
                    d.approve,
                    d.decided_at,
                    d.conclusion,
                    d.evaluation_id,
                    d.dismissed,
                    d.text,
                )
                for d in decisions
            ),
            assignments=tuple(
                Assignment(a.reviewer, a.assigned_at, Verdict(a.verdict), a.decided_at)
                for a in assignments
            ),
        )

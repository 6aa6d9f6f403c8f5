"""What the weekly digest reads, as DataFrames: one query per frame, for one workspace.

The audit log is read from ``since`` on (the digest's eight weeks). An experiment in flight
whose last entry is older gets one extra row, action ``activity``, at that entry's time:
all the digest needs of the older log is when such an experiment last moved (for "stale"),
and no figure counts that action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.domain.digest import DigestData
from bot.domain.lifecycle import IN_FLIGHT
from bot.domain.model import LOWER_IS_BETTER
from bot.domain.rules import rules_from_dict
from storage.models import (
    AuditRow,
    EvaluationRow,
    ExperimentRow,
    ProjectRow,
    ReviewAssignmentRow,
    ReviewRow,
)

IN_FLIGHT_VALUES = tuple(s.value for s in IN_FLIGHT)


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def load_digest_data(session: Session, team_id: str, since: datetime) -> DigestData:
    projects = [
        {
            "project_id": row.id,
            "slug": row.slug,
            **{
                key: getattr(rules_from_dict(row.rules or {}), key)
                for key in ("wip_main", "wip_side", "wip_project")
            },
        }
        for row in session.scalars(
            select(ProjectRow).where(ProjectRow.team_id == team_id).order_by(ProjectRow.slug)
        )
    ]
    experiments = session.execute(
        select(
            ExperimentRow.id.label("experiment_id"),
            ExperimentRow.project_id,
            ExperimentRow.number,
            ExperimentRow.title,
            ExperimentRow.owner_id,
            ExperimentRow.status,
            ExperimentRow.outcome,
            ExperimentRow.workstream,
            ExperimentRow.created_at,
        ).where(ExperimentRow.team_id == team_id)
    ).all()
    events = _events(session, team_id, since)
    pending = session.execute(
        select(
            ReviewRow.id.label("review_id"),
            ReviewRow.experiment_id,
            ExperimentRow.project_id,
            ReviewAssignmentRow.reviewer,
            ReviewAssignmentRow.assigned_at.label("requested_at"),
            ReviewRow.needs_reviewer_since.is_not(None).label("needs_reviewer"),
        )
        .join(ReviewAssignmentRow, ReviewAssignmentRow.review_id == ReviewRow.id)
        .join(ExperimentRow, ExperimentRow.id == ReviewRow.experiment_id)
        .where(
            ReviewRow.team_id == team_id,
            ReviewRow.is_open,
            ReviewAssignmentRow.verdict == "pending",
            # Only reviews that wait on their reviewers (as /review list and the reminders
            # say): results while in review, a design while proposed.
            or_(
                and_(ReviewRow.kind == "results", ExperimentRow.status == "in_review"),
                and_(ReviewRow.kind == "design", ExperimentRow.status == "proposed"),
            ),
        )
    ).all()
    pending = [*pending, *_unstaffed(session, team_id)]
    return DigestData(
        projects=pd.DataFrame(
            projects, columns=["project_id", "slug", "wip_main", "wip_side", "wip_project"]
        ),
        experiments=_utc(
            pd.DataFrame(experiments, columns=list(EXPERIMENT_COLUMNS)),
            "created_at",
        ),
        events=events,
        pending_reviews=_utc(
            pd.DataFrame(pending, columns=list(PENDING_COLUMNS)),
            "requested_at",
        ),
        evaluations=_evaluations(session, team_id, since),
    )


EXPERIMENT_COLUMNS = (
    "experiment_id",
    "project_id",
    "number",
    "title",
    "owner_id",
    "status",
    "outcome",
    "workstream",
    "created_at",
)
PENDING_COLUMNS = (
    "review_id",
    "experiment_id",
    "project_id",
    "reviewer",
    "requested_at",
    "needs_reviewer",
)


def _unstaffed(session: Session, team_id: str) -> list[Any]:
    """Open reviews that need a reviewer and wait on nobody: one row each, reviewer ""."""
    waiting = (
        select(ReviewAssignmentRow.id)
        .where(
            ReviewAssignmentRow.review_id == ReviewRow.id,
            ReviewAssignmentRow.verdict == "pending",
        )
        .exists()
    )
    return list(
        session.execute(
            select(
                ReviewRow.id,
                ReviewRow.experiment_id,
                ExperimentRow.project_id,
                literal(""),
                ReviewRow.needs_reviewer_since,
                literal(True),
            )
            .join(ExperimentRow, ExperimentRow.id == ReviewRow.experiment_id)
            .where(
                ReviewRow.team_id == team_id,
                ReviewRow.is_open,
                ReviewRow.needs_reviewer_since.is_not(None),
                ~waiting,
                or_(
                    and_(ReviewRow.kind == "results", ExperimentRow.status == "in_review"),
                    and_(ReviewRow.kind == "design", ExperimentRow.status == "proposed"),
                ),
            )
        ).all()
    )


EVENT_COLUMNS = (
    "experiment_id",
    "project_id",
    "action",
    "from_status",
    "to_status",
    "outcome",
    "review_id",
    "at",
)
EVALUATION_COLUMNS = (
    "experiment_id",
    "project_id",
    "at",
    "metric",
    "delta",
    "improvement",
    "verdict",
    "criterion_met",
    "baseline_number",
)


def _events(session: Session, team_id: str, since: datetime) -> pd.DataFrame:
    rows = session.execute(
        select(
            AuditRow.experiment_id,
            AuditRow.project_id,
            AuditRow.action,
            AuditRow.from_status,
            AuditRow.to_status,
            AuditRow.detail,
            AuditRow.created_at,
        )
        .where(AuditRow.team_id == team_id, AuditRow.created_at >= since)
        .order_by(AuditRow.id)  # in log order, which the figures' sorts find cheapest
    ).all()
    records = [
        (
            experiment,
            project,
            action,
            before,
            after,
            (detail or {}).get("outcome"),
            _int((detail or {}).get("review")),
            at,
        )
        for experiment, project, action, before, after, detail, at in rows
    ]
    # In flight but quiet since before the window: when did each last move?
    last = (
        select(
            AuditRow.experiment_id,
            ExperimentRow.project_id,
            func.max(AuditRow.created_at),
        )
        .join(ExperimentRow, ExperimentRow.id == AuditRow.experiment_id)
        .where(
            ExperimentRow.team_id == team_id,
            ExperimentRow.status.in_(IN_FLIGHT_VALUES),
        )
        .group_by(AuditRow.experiment_id, ExperimentRow.project_id)
        .having(func.max(AuditRow.created_at) < since)
    )
    for experiment, project, at in session.execute(last):
        records.append((experiment, project, "activity", None, None, None, None, at))
    frame = pd.DataFrame(records, columns=list(EVENT_COLUMNS))
    return _utc(frame, "at")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _evaluations(session: Session, team_id: str, since: datetime) -> pd.DataFrame:
    """Compared evaluations of the window: their criterion metric's difference from the
    baseline, signed so that a positive improvement is better."""
    rows = session.execute(
        select(
            EvaluationRow.experiment_id,
            ExperimentRow.project_id,
            EvaluationRow.created_at,
            EvaluationRow.summary,
            EvaluationRow.baseline_id,
        )
        .join(ExperimentRow, ExperimentRow.id == EvaluationRow.experiment_id)
        .where(
            EvaluationRow.team_id == team_id,
            EvaluationRow.created_at >= since,
            EvaluationRow.baseline_id.is_not(None),
        )
    ).all()
    wanted = {baseline for *_, baseline in rows}
    numbers: dict[int, int] = {}
    if wanted:
        numbers = {
            evaluation: number
            for evaluation, number in session.execute(
                select(EvaluationRow.id, ExperimentRow.number)
                .join(ExperimentRow, ExperimentRow.id == EvaluationRow.experiment_id)
                .where(EvaluationRow.id.in_(wanted))
            )
        }
    records = []
    for experiment, project, at, summary, baseline in rows:
        summary = summary or {}
        metric = summary.get("criterion_metric")
        value = ((summary.get("deltas") or {}).get(metric) or {}).get("delta")
        if metric is None or not isinstance(value, int | float):
            continue  # scalar metrics, or too few rows for a comparison
        records.append(
            (
                experiment,
                project,
                at,
                metric,
                float(value),
                -float(value) if metric in LOWER_IS_BETTER else float(value),
                summary.get("verdict"),
                summary.get("criterion_met"),
                numbers.get(baseline),
            )
        )
    return _utc(pd.DataFrame(records, columns=list(EVALUATION_COLUMNS)), "at")


class DigestReads:
    """The unit of work's door to the digest's frames."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def data(self, team_id: str, since: datetime) -> DigestData:
        return load_digest_data(self.session, team_id, since)

"""Use cases for evaluations: submit one, set a project's baseline, read metrics, check parity.

An evaluation is validated and its statistics computed *between* two short transactions:
a read (the experiment, the project's baseline rows) and a write (the evaluation, the audit
entry, the Slack messages). The seconds a million rows take never hold a database lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from bot.domain.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from bot.domain.evaluation import (
    Baseline,
    Evaluation,
    EvaluationRecord,
    Kind,
    ParityRecord,
    Predictions,
)
from bot.domain.ingest import check_pairable_rows
from bot.domain.model import Actor, Experiment, OutgoingMessage, Project, Role, Status
from bot.domain.parity import Parity, check_parity
from bot.domain.summary import Summary, align, summarize
from bot.services import computing
from bot.services.experiments import require_readable, results_changed
from bot.services.ports import Context
from bot.services.review_requests import reopen_after_new_results
from bot.services.review_staffing import candidates
from storage.evaluations import Packed, Stored
from storage.unit_of_work import Database, UnitOfWork

# The statistics are seeded: the same files always give the same intervals.
SEED = 0
# From this many rows on, the thread first says the summary is being computed.
LARGE = 50_000
SOURCES = frozenset({"upload", "cli", "api", "demo", "mlflow"})
# Called in the transaction that records an evaluation, with its id (see submit_evaluation).
OnRecord = Callable[[UnitOfWork, Experiment, int], None]


@dataclass(frozen=True)
class Submission:
    """An evaluation to record for experiment ``number``, and where it came from."""

    number: int
    evaluation: Evaluation
    source: str
    filename: str = ""
    # A new held-out set (or a different kind of model): recorded without comparison, so
    # that a manager can make it the project's next baseline.
    new_holdout: bool = False
    # Scalar metrics the run logged where the file came from (MLflow): shown, never tested.
    logged: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    experiment: Experiment
    evaluation_id: int
    summary: Summary
    baseline: Baseline | None
    approvals_dismissed: int


@dataclass(frozen=True)
class Metrics:
    """What ``/exp metrics`` shows: the latest evaluation, the baseline, the parity check."""

    experiment: Experiment
    latest: EvaluationRecord | None
    evaluations: int
    baseline: Baseline | None
    parity: ParityRecord | None
    compared_with: int | None  # the experiment number of the baseline the latest met


def _readable(uow: UnitOfWork, actor: Actor, number: int) -> Experiment:
    return require_readable(actor, uow.experiments.require(actor.team_id, number))


def _open_for_results(experiment: Experiment) -> None:
    if experiment.status is Status.ABANDONED:
        raise InvalidTransition(
            f"{experiment.key} was abandoned; evaluations are not recorded for it.", []
        )


def check_submitter(db: Database, ctx: Context, number: int) -> Experiment:
    """Refuse early (before a file is downloaded) someone who may not submit."""
    with db.read() as uow:
        experiment = _readable(uow, ctx.actor, number)
    _open_for_results(experiment)
    return experiment


def submit_evaluation(
    db: Database,
    ctx: Context,
    submission: Submission,
    *,
    progress_ref: str | None = None,
    event_id: str | None = None,
    on_record: OnRecord | None = None,
) -> Recorded | None:
    """Compare an evaluation with the project's baseline, record it, post it in the thread.

    ``progress_ref`` names a "computing…" message already posted: the summary replaces it.
    ``event_id`` (a Slack upload, an MLflow run) is claimed with the record: a repeated
    delivery records nothing and returns None. ``on_record`` commits its own change with
    the record (an MLflow run marked imported).
    """
    if submission.source not in SOURCES:
        raise ValueError(f"unknown source {submission.source!r}")
    actor = ctx.actor
    with db.read() as uow:
        experiment = _readable(uow, actor, submission.number)
        _open_for_results(experiment)
        project = uow.projects.require(actor.team_id, experiment.project)
        # New results may reopen its review and pick reviewers: their Slack statuses are
        # read now, outside the write below (which then finds them cached).
        candidates(uow, ctx, project)
        current = uow.evaluations.baseline(project.id)
        baseline = None if submission.new_holdout else current
        stored = uow.evaluations.stored(baseline.evaluation_id) if baseline else None
    if stored is not None and stored.kind is not submission.evaluation.kind:
        raise ValidationError(
            f"This is a {submission.evaluation.kind} evaluation but the baseline of"
            f" {project.slug} (EXP-{baseline.experiment_number if baseline else '?'}) is"
            f" {stored.kind}: give --kind {stored.kind}, or --new-holdout to record it"
            " without comparison (a manager can then make it the baseline)."
        )
    note = None
    if submission.new_holdout and current is not None:
        note = (
            f"Declared a new held-out set: not compared with the baseline"
            f" EXP-{current.experiment_number}; a manager can make this the baseline."
        )
    # Seconds of CPU for a million rows: in the computing process when there is one.
    summary, chart, packed = computing.offload(
        compute, submission.evaluation, stored, experiment, baseline, note
    )
    with db.write() as uow:
        # Serialised with review decisions: an approval either saw this evaluation or is
        # dismissed by it, never both missed (PostgreSQL runs these concurrently).
        uow.workspaces.lock(actor.team_id)
        if event_id is not None and not uow.events.claim(actor.team_id, event_id, ctx.now):
            return None
        experiment = _readable(uow, actor, submission.number)
        _open_for_results(experiment)
        evaluation_id = uow.evaluations.add(
            actor.team_id,
            experiment.id,
            submission.evaluation,
            source=submission.source,
            filename=submission.filename,
            submitted_by=actor.user_id,
            now=ctx.now,
            baseline_id=baseline.evaluation_id if baseline else None,
            summary=summary.to_json(),
            packed=packed,
        )
        dismissed = results_changed(uow, experiment, evaluation_id)
        detail: dict[str, object] = {
            "evaluation": evaluation_id,
            "kind": submission.evaluation.kind.value,
            "source": submission.source,
            "file": submission.filename or None,
            "rows": summary.rows,
            "baseline": f"EXP-{baseline.experiment_number}" if baseline else None,
            "verdict": summary.verdict.value if summary.verdict else None,
            "criterion_met": summary.criterion_met,
        }
        if dismissed:
            detail["approvals_dismissed"] = dismissed
        uow.audit.record(
            actor.team_id,
            actor.user_id,
            "evaluation",
            ctx.now,
            experiment=experiment,
            project_id=project.id,
            detail=detail,
        )
        for message in ctx.notices.evaluation_recorded(
            experiment,
            project,
            summary,
            baseline,
            chart,
            dismissed,
            progress_ref,
            submitted_by=actor.user_id,
            filename=submission.filename,
            logged=submission.logged,
        ):
            uow.outbox.add(message, ctx.now)
        if on_record is not None:
            on_record(uow, experiment, evaluation_id)
        # Dismissed approvals never strand an experiment: its results review opens again.
        reopen_after_new_results(uow, ctx, experiment, evaluation_id)
        uow.commit()
    return Recorded(experiment, evaluation_id, summary, baseline, dismissed)


def compute(
    evaluation: Evaluation,
    stored: Stored | None,
    experiment: Experiment,
    baseline: Baseline | None,
    note: str | None,
) -> tuple[Summary, bytes | None, Packed | None]:
    """The summary against the stored baseline, the chart and the packed rows (pure CPU)."""
    reference = stored.open() if stored is not None else None
    check_pairable_rows(evaluation, reference, candidate_name=experiment.key)
    summary = summarize(evaluation, reference, experiment.criterion, seed=SEED)
    if note is not None:
        summary = replace(summary, warnings=(*summary.warnings, note))
    chart = _chart(experiment, evaluation, reference, baseline)
    return summary, chart, Packed.of(evaluation)  # packed outside the write: see Packed


def _chart(
    experiment: Experiment,
    candidate: Evaluation,
    reference: Evaluation | None,
    baseline: Baseline | None,
) -> bytes | None:
    """ROC (or residual) chart of the candidate, with the baseline on the same rows."""
    if not isinstance(candidate, Predictions):
        return None
    from bot import charts  # matplotlib is imported only when a chart is drawn

    y, scores, other = candidate.y_true, candidate.score, None
    if isinstance(reference, Predictions):
        paired = align(candidate, reference)
        if not isinstance(paired, str):
            y, scores, other = paired
    draw = charts.roc_chart if candidate.kind is Kind.CLASSIFICATION else charts.residual_chart
    what = "ROC" if candidate.kind is Kind.CLASSIFICATION else "residuals"
    return draw(
        y,
        scores,
        other,
        candidate_label=experiment.key,
        baseline_label=f"baseline EXP-{baseline.experiment_number}" if baseline else "baseline",
        title=f"{experiment.key}: {what} on the held-out set",
    )


def computing_notice(db: Database, ctx: Context, number: int, rows: int, ref: str) -> None:
    """Say in the thread that a large evaluation is being computed (replaced when done)."""
    with db.write() as uow:
        experiment = _readable(uow, ctx.actor, number)
        project = uow.projects.require(ctx.actor.team_id, experiment.project)
        for message in ctx.notices.evaluation_computing(experiment, project, rows, ref):
            uow.outbox.add(message, ctx.now)
        uow.commit()


def computing_failed(db: Database, ctx: Context, number: int, why: str, ref: str) -> None:
    """Replace the "computing…" message with why nothing was recorded."""
    with db.write() as uow:
        experiment = uow.experiments.require(ctx.actor.team_id, number)
        project = uow.projects.require(ctx.actor.team_id, experiment.project)
        for message in ctx.notices.evaluation_failed(experiment, project, why, ref):
            uow.outbox.add(message, ctx.now)
        uow.commit()


def set_baseline(uow: UnitOfWork, ctx: Context, slug: str, number: int) -> Baseline:
    """Make experiment ``number``'s latest evaluation the baseline of ``slug`` (managers)."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, slug)
    if not (actor.is_admin() or actor.has(Role.MANAGER, project.slug)):
        raise PermissionDenied(f"Only a manager of {project.slug} can set its baseline.")
    experiment = uow.experiments.require(actor.team_id, number)
    if experiment.project != project.slug:
        raise ValidationError(
            f"{experiment.key} belongs to {experiment.project}, not {project.slug}:"
            " a baseline must be evaluated on the project's own held-out set."
        )
    latest = uow.evaluations.latest(experiment.id)
    if latest is None:
        raise NotFound(
            f"{experiment.key} has no evaluation yet: upload one with `@mlgov eval"
            f" {experiment.key}` (or `mlgov eval push`) first."
        )
    previous = uow.evaluations.baseline(project.id)
    uow.evaluations.set_baseline(project.id, experiment.id, latest.id, actor.user_id, ctx.now)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "baseline",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={
            "project": project.slug,
            "evaluation": latest.id,
            "previous": f"EXP-{previous.experiment_number}" if previous else None,
            "previous_evaluation": previous.evaluation_id if previous else None,
        },
    )
    baseline = Baseline(project.slug, experiment.number, latest.id, actor.user_id, ctx.now)
    for message in ctx.notices.baseline_set(project, experiment, baseline, previous):
        uow.outbox.add(message, ctx.now)
    return baseline


def metrics(uow: UnitOfWork, ctx: Context, number: int) -> Metrics:
    experiment = _readable(uow, ctx.actor, number)
    project = uow.projects.require(ctx.actor.team_id, experiment.project)
    latest = uow.evaluations.latest(experiment.id)
    compared = uow.evaluations.get(latest.baseline_id) if latest and latest.baseline_id else None
    return Metrics(
        experiment,
        latest,
        uow.evaluations.count(experiment.id),
        uow.evaluations.baseline(project.id),
        uow.evaluations.latest_parity(experiment.id),
        compared.experiment_number if compared else None,
    )


def baseline_history(uow: UnitOfWork, ctx: Context, slug: str) -> list[Baseline]:
    project = uow.projects.require(ctx.actor.team_id, slug)
    if not ctx.actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    return uow.evaluations.baselines(project.id)


def record_parity(
    db: Database,
    ctx: Context,
    number: int,
    prototype: Predictions,
    production: Predictions,
    *,
    source: str,
    tolerance: float = 1e-6,
    threshold: float = 0.5,
    event_id: str | None = None,
) -> Parity | None:
    """Compare the prototype's scores with production's on the same rows; store, announce."""
    check_submitter(db, ctx, number)
    result = check_parity(prototype, production, tolerance=tolerance, threshold=threshold)
    actor = ctx.actor
    with db.write() as uow:
        if event_id is not None and not uow.events.claim(actor.team_id, event_id, ctx.now):
            return None
        experiment = _readable(uow, actor, number)
        project: Project = uow.projects.require(actor.team_id, experiment.project)
        parity_id = uow.evaluations.add_parity(
            actor.team_id,
            experiment.id,
            result.to_json(),
            submitted_by=actor.user_id,
            source=source,
            now=ctx.now,
        )
        uow.audit.record(
            actor.team_id,
            actor.user_id,
            "parity",
            ctx.now,
            experiment=experiment,
            project_id=project.id,
            detail={
                "parity": parity_id,
                "source": source,
                "passed": result.passed,
                "rows": result.rows,
            },
        )
        messages: list[OutgoingMessage] = ctx.notices.parity_checked(experiment, project, result)
        for message in messages:
            uow.outbox.add(message, ctx.now)
        uow.commit()
    return result

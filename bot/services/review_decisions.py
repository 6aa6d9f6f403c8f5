"""Deciding on reviews (SPEC §3): approve, request changes, decline; and the gate that
alone moves an experiment to `scheduled`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.domain import lifecycle
from bot.domain.errors import GateClosed, NotFound, PermissionDenied, ValidationError
from bot.domain.model import Experiment, Project, Role, Status
from bot.domain.review import Decision, Review, ReviewKind, Verdict, gate
from bot.services.experiments import Moved
from bot.services.ports import Context
from bot.services.review_staffing import hand_over, load_experiment, staffed
from storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Decided:
    experiment: Experiment
    review: Review
    moved: Moved | None  # the experiment moved (quorum reached, or changes requested)
    approvals: int
    quorum: int
    # The actor had approved this conclusion already: nothing was recorded or posted.
    repeated: bool = False


def current_review(uow: UnitOfWork, experiment: Experiment, review_id: int | None = None) -> Review:
    """The open review a decision is about (or ``review_id``'s, if still open)."""
    if review_id is not None:
        review = uow.reviews.get(review_id)
        if review is None or review.experiment_id != experiment.id:
            raise NotFound("That review does not exist.")
        if not review.open:
            raise ValidationError(
                f"That review of {experiment.key} is closed or was superseded"
                " by a newer request; look at the latest one in the thread."
            )
        return review
    kind = ReviewKind.DESIGN if experiment.status is Status.PROPOSED else ReviewKind.RESULTS
    review = uow.reviews.latest(experiment.id, kind)
    if review is None or not review.open:
        raise NotFound(
            f"{experiment.key} has no open {kind} review; the owner asks with"
            f" `/review request {experiment.key}`."
        )
    return review


def check_reviewer(ctx: Context, experiment: Experiment) -> None:
    """Any scientist of the project may review; never the owner."""
    if ctx.actor.user_id == experiment.owner_id:
        raise PermissionDenied("You cannot review your own experiment.")
    if not ctx.actor.has(Role.SCIENTIST, experiment.project):
        raise PermissionDenied(f"Only scientists of {experiment.project} review experiments.")


def decide(
    uow: UnitOfWork,
    ctx: Context,
    number: int,
    approve: bool,
    text: str,
    review_id: int | None = None,
) -> Decided:
    """Approve, or request changes (with a reason): any scientist but the owner."""
    uow.workspaces.lock(ctx.actor.team_id)  # two approvals at once must see each other
    experiment, project = load_experiment(uow, ctx, number)
    actor = ctx.actor
    check_reviewer(ctx, experiment)
    if not approve and not text.strip():
        raise ValidationError("Say what should change: the reason is required.")
    review = current_review(uow, experiment, review_id)
    mine = review.latest().get(actor.user_id)
    if (
        approve
        and mine is not None
        and mine.approve
        and not mine.dismissed
        and mine.conclusion == experiment.conclusions
    ):
        approvals = len(review.approvals(experiment.owner_id))
        return Decided(experiment, review, None, approvals, project.rules.quorum, repeated=True)
    # The evaluation the reviewer saw: a newer one dismisses this approval.
    seen = uow.evaluations.latest_id(experiment.id)
    decision = Decision(
        actor.user_id, approve, ctx.now, experiment.conclusions, seen, text=text.strip()
    )
    uow.reviews.decide(review.id, decision)
    uow.reviews.set_verdict(
        review.id, actor.user_id, Verdict.APPROVED if approve else Verdict.CHANGES, ctx.now
    )
    review = replace(review, decisions=review.decisions + (decision,))
    quorum = project.rules.quorum
    approvals = len(review.approvals(experiment.owner_id))
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "review_approved" if approve else "review_changes_requested",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={
            "kind": review.kind.value,
            "review": review.id,
            "conclusion": experiment.conclusions,
            "evaluation": seen,
            "text": text.strip(),
            "approvals": approvals,
            "quorum": quorum,
        },
    )
    moved = None
    # Only an experiment still in review moves: after one change request it waits on
    # its owner, and later decisions are recorded without moving it again.
    if review.kind is ReviewKind.RESULTS and experiment.status is Status.IN_REVIEW:
        step = None
        if not approve:
            step = "request_changes"
        elif approvals >= quorum and not review.open_change_requests():
            step = "accept_results"
        if step is not None:
            after = uow.experiments.save(lifecycle.apply(experiment, step, None, ctx.now))
            uow.audit.record(
                actor.team_id,
                actor.user_id,
                step,
                ctx.now,
                experiment=after,
                project_id=project.id,
                from_status=experiment.status.value,
                to_status=after.status.value,
                detail={"review": review.id, "conclusion": experiment.conclusions},
            )
            if step == "accept_results":
                uow.reviews.close(review.id)
            moved = Moved(experiment, after)
    elif approvals >= quorum and not review.open_change_requests():
        uow.reviews.close(review.id)
    # A reviewer kept for want of anyone else has answered: it may be staffed again.
    staffed(uow, review.id, experiment.owner_id, quorum)
    review = uow.reviews.get(review.id) or review  # verdicts and closing, as stored now
    for message in ctx.notices.review_decided(
        experiment,
        project,
        review,
        decision,
        approvals,
        quorum,
        moved.after if moved else None,
        evaluation=uow.evaluations.latest(experiment.id),
    ):
        uow.outbox.add(message, ctx.now)
    return Decided(moved.after if moved else experiment, review, moved, approvals, quorum)


def decline(
    uow: UnitOfWork, ctx: Context, number: int, reason: str, review_id: int | None = None
) -> str | None:
    """A reviewer hands the review on; the next by the same rule takes over (None: nobody
    can, and the review needs a reviewer: the managers are told)."""
    uow.workspaces.lock(ctx.actor.team_id)
    experiment, project = load_experiment(uow, ctx, number)
    review = current_review(uow, experiment, review_id)
    me = ctx.actor.user_id
    if me not in review.pending():
        raise ValidationError(f"You have no pending review of {experiment.key} to decline.")
    uow.reviews.set_verdict(review.id, me, Verdict.DECLINED, ctx.now)
    return hand_over(uow, ctx, experiment, project, review, me, "declined", reason)


def schedule_engineering(uow: UnitOfWork, ctx: Context, number: int, note: str) -> Moved:
    """The gate: only complete, peer-reviewed, successful science is scheduled."""
    experiment, project = load_experiment(uow, ctx, number)
    lifecycle.check_mover(experiment, "schedule", ctx.actor)
    review = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
    unmet = gate(experiment, review, project.rules.quorum)
    if unmet:
        raise GateClosed(f"{experiment.key} cannot be scheduled for engineering yet:", unmet)
    detail = {
        "note": note,
        "conclusion": experiment.conclusions,
        "review": review.id if review else None,
    }
    return _move(uow, ctx, experiment, project, "schedule", detail)


def ship(uow: UnitOfWork, ctx: Context, number: int) -> Moved:
    """Scheduled engineering went live (engineers and managers)."""
    experiment, project = load_experiment(uow, ctx, number)
    return _move(uow, ctx, experiment, project, "ship", {})


def _move(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    step: str,
    detail: dict[str, Any],
) -> Moved:
    after = uow.experiments.save(lifecycle.apply(experiment, step, ctx.actor, ctx.now))
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        step,
        ctx.now,
        experiment=after,
        project_id=project.id,
        from_status=experiment.status.value,
        to_status=after.status.value,
        detail=detail,
    )
    for message in ctx.notices.experiment_changed(after, project, ctx.actor.user_id, step, detail):
        uow.outbox.add(message, ctx.now)
    return Moved(experiment, after)

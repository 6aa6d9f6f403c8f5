"""Opening reviews (SPEC §3): asked for by hand, by `conclude` itself, and again when new
results dismiss approvals — so that no experiment is in review without an open review."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import lifecycle
from bot.domain.errors import PermissionDenied, ValidationError
from bot.domain.model import Experiment, Project, Role, Status
from bot.domain.review import Review, ReviewKind, select_reviewers
from bot.services.ports import Context
from bot.services.review_staffing import (
    candidates,
    check_quorum,
    load_experiment,
    needs_reviewer,
    scientists_of,
)
from storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Requested:
    experiment: Experiment
    review: Review
    reviewers: list[str]


def open_results_review(uow: UnitOfWork, experiment: Experiment) -> Review | None:
    """The experiment's open results review, if any (what `/review approve` decides on)."""
    review = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
    return review if review is not None and review.open else None


def request_review(
    uow: UnitOfWork, ctx: Context, number: int, kind: ReviewKind | None, named: list[str]
) -> Requested:
    """Ask peers to review (the owner or a manager asks): the named reviewers, and mlgov
    picks the rest of the quorum. A newer request replaces an open one of the same kind."""
    uow.workspaces.lock(ctx.actor.team_id)  # reviewer workloads are counted, then changed
    experiment, project = load_experiment(uow, ctx, number)
    actor = ctx.actor
    if actor.user_id != experiment.owner_id and not actor.has(Role.MANAGER, project.slug):
        raise PermissionDenied(
            f"Only the owner (<@{experiment.owner_id}>) or a manager can"
            f" ask for review of {experiment.key}."
        )
    if kind is None:
        kind = ReviewKind.DESIGN if experiment.status is Status.PROPOSED else ReviewKind.RESULTS
    if kind is ReviewKind.RESULTS and experiment.status is not Status.IN_REVIEW:
        raise ValidationError(
            f"{experiment.key} is {experiment.status}: results are reviewed"
            f" after `/exp conclude {experiment.key} …`."
        )
    if kind is ReviewKind.DESIGN:
        if experiment.status is not Status.PROPOSED:
            raise ValidationError(
                f"{experiment.key} is {experiment.status}: a design is"
                " reviewed before the experiment starts."
            )
        if project.rules.design_review == "off":
            raise ValidationError(f"Project {project.slug} has design reviews switched off.")
    pool = candidates(uow, ctx, project)
    scientists = {c.user_id for c in pool.candidates}
    for user in named:
        if user == experiment.owner_id:
            raise ValidationError("The owner cannot review their own experiment.")
        if user not in scientists:
            raise ValidationError(f"<@{user}> is not a scientist of {project.slug}.")
    check_quorum(uow, project, experiment.owner_id)
    chosen = list(dict.fromkeys(named))
    quorum = project.rules.quorum
    chosen += select_reviewers(pool.candidates, experiment.owner_id, quorum - len(chosen), chosen)
    if not chosen:
        raise ValidationError(
            f"No scientist of {project.slug} other than the owner is"
            " available to review; add one, or name a reviewer."
        )
    review = _open(uow, ctx, experiment, project, kind, chosen, {})
    for message in ctx.notices.review_requested(
        experiment,
        project,
        review,
        chosen,
        quorum,
        evaluation=uow.evaluations.latest(experiment.id),
        unchecked=pool.note,
    ):
        uow.outbox.add(message, ctx.now)
    _short(uow, ctx, experiment, project, review, chosen)
    return Requested(experiment, review, chosen)


def open_after_conclude(
    uow: UnitOfWork, ctx: Context, experiment: Experiment, project: Project
) -> Review:
    """`conclude` opens the results review itself: reviewers picked by the rule (rule
    ``auto_review=on``), or none with the managers told it needs reviewers (``off``)."""
    quorum = project.rules.quorum
    chosen: list[str] = []
    note = ""
    if project.rules.auto_review != "off":
        pool = candidates(uow, ctx, project)
        chosen, note = select_reviewers(pool.candidates, experiment.owner_id, quorum), pool.note
    review = _open(uow, ctx, experiment, project, ReviewKind.RESULTS, chosen, {"auto": True})
    for message in ctx.notices.review_requested(
        experiment,
        project,
        review,
        chosen,
        quorum,
        evaluation=uow.evaluations.latest(experiment.id),
        unchecked=note,
    ):
        uow.outbox.add(message, ctx.now)
    if project.rules.auto_review == "off":
        why = (
            f"auto_review is off for {project.slug}, so the owner or a manager names the"
            f" reviewers (`/review request {experiment.key} results @…`)"
        )
        needs_reviewer(uow, ctx, experiment, project, review, why)
    else:
        _short(uow, ctx, experiment, project, review, chosen)
    return uow.reviews.get(review.id) or review


def reopen_after_new_results(
    uow: UnitOfWork, ctx: Context, experiment: Experiment, evaluation_id: int
) -> Requested | None:
    """New results dismissed approvals: the results review opens again (an approved or
    scheduled experiment goes back to in_review, audited) and asks those reviewers again;
    None when no approval of the current results review was dismissed."""
    review = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
    reopens = experiment.status in (Status.APPROVED, Status.SCHEDULED)
    if review is None or not (reopens or (experiment.status is Status.IN_REVIEW and review.open)):
        return None
    dismissed = review.dismissed_approvals(experiment.owner_id)
    if not dismissed:
        return None
    project = uow.projects.require(experiment.team_id, experiment.project)
    members = set(scientists_of(uow, project)) - {experiment.owner_id}
    again = [d.reviewer for d in dismissed if d.reviewer in members]
    still = review.pending() if review.open else []
    chosen = list(dict.fromkeys([*again, *[u for u in still if u in members]]))
    quorum = project.rules.quorum
    pool = candidates(uow, ctx, project)
    chosen += select_reviewers(pool.candidates, experiment.owner_id, quorum - len(chosen), chosen)
    after = experiment
    if reopens:
        after = uow.experiments.save(lifecycle.apply(experiment, "reopen_review", None, ctx.now))
        uow.audit.record(
            ctx.actor.team_id,
            ctx.actor.user_id,
            "reopen_review",
            ctx.now,
            experiment=after,
            project_id=project.id,
            from_status=experiment.status.value,
            to_status=after.status.value,
            detail={
                "review": review.id,
                "evaluation": evaluation_id,
                "approvals_dismissed": len(dismissed),
            },
        )
    detail: dict[str, object] = {"reopened": review.id, "evaluation": evaluation_id}
    new = _open(uow, ctx, after, project, ReviewKind.RESULTS, chosen, detail)
    for message in ctx.notices.review_reopened(
        after,
        project,
        new,
        chosen,
        quorum,
        evaluation_id,
        len(dismissed),
        after if reopens else None,
        evaluation=uow.evaluations.latest(experiment.id),
        unchecked=pool.note,
    ):
        uow.outbox.add(message, ctx.now)
    _short(uow, ctx, after, project, new, chosen)
    return Requested(after, new, chosen)


def _open(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    kind: ReviewKind,
    chosen: list[str],
    extra: dict[str, object],
) -> Review:
    """A new review (replacing an open one of its kind) assigned to ``chosen``, audited."""
    review_id = uow.reviews.add(
        ctx.actor.team_id, experiment.id, kind, ctx.actor.user_id, ctx.now, experiment.conclusions
    )
    for reviewer in chosen:
        uow.reviews.assign(review_id, reviewer, ctx.now)
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "review_requested",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={
            "kind": kind.value,
            "reviewers": chosen,
            "review": review_id,
            "conclusion": experiment.conclusions,
            **extra,
        },
    )
    review = uow.reviews.get(review_id)
    assert review is not None
    return review


def _short(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    review: Review,
    chosen: list[str],
) -> None:
    """Fewer reviewers than the quorum could be asked: the review needs a reviewer."""
    quorum = project.rules.quorum
    if len(chosen) >= quorum:
        return
    who = ", ".join(f"<@{u}>" for u in chosen) or "nobody"
    needs_reviewer(
        uow,
        ctx,
        experiment,
        project,
        review,
        f"the quorum is {quorum} but only {who} could be asked (no other scientist of"
        f" {project.slug} is available)",
    )

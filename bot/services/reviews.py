"""Use cases of peer review and the engineering gate (SPEC §3)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import lifecycle
from bot.domain.errors import GateClosed, NotFound, PermissionDenied, ValidationError
from bot.domain.model import Actor, Experiment, Project, Role, Status
from bot.domain.review import (
    Candidate,
    Decision,
    Review,
    ReviewKind,
    Verdict,
    gate,
    select_reviewers,
    working_days_between,
)
from bot.services.experiments import Moved
from bot.services.ports import Context, Notices
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
OVERDUE_DAYS = 2  # working days before a reviewer is reminded


@dataclass(frozen=True)
class Requested:
    experiment: Experiment
    review: Review
    reviewers: list[str]


@dataclass(frozen=True)
class Decided:
    experiment: Experiment
    review: Review
    moved: Moved | None  # the experiment moved (quorum reached, or changes requested)
    approvals: int
    quorum: int


def _load(uow: UnitOfWork, ctx: Context, number: int) -> tuple[Experiment, Project]:
    experiment = uow.experiments.require(ctx.actor.team_id, number)
    if not ctx.actor.may_read(experiment.project):
        raise PermissionDenied(f"You are not on project {experiment.project}.")
    return experiment, uow.projects.require(ctx.actor.team_id, experiment.project)


def _is_scientist(actor: Actor, project: str) -> bool:
    return actor.has(Role.SCIENTIST, project)


def candidates(
    uow: UnitOfWork, project: Project, today: datetime, timezone: str
) -> list[Candidate]:
    """The project's scientists, with their open reviews, last assignment and absence."""
    load = uow.reviews.workload(project.team_id)
    day = today.astimezone(ZoneInfo(timezone)).date()
    away = {a.user_id for a in uow.rotations.absences(project.team_id, day) if a.covers(day)}
    found = []
    for order, member in enumerate(uow.members.all_in(project.team_id)):
        if not member.as_actor().has(Role.SCIENTIST, project.slug):
            continue
        open_reviews, last = load.get(member.user_id, (0, None))
        found.append(Candidate(member.user_id, order, open_reviews, last, member.user_id in away))
    return found


def request_review(
    uow: UnitOfWork, ctx: Context, number: int, kind: ReviewKind | None, named: list[str]
) -> Requested:
    """Ask peers to review (the owner or a manager asks); mlgov picks when none are named."""
    uow.workspaces.lock(ctx.actor.team_id)  # reviewer workloads are counted, then changed
    experiment, project = _load(uow, ctx, number)
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
    pool = candidates(uow, project, ctx.now, ctx.timezone)
    scientists = {c.user_id for c in pool}
    for user in named:
        if user == experiment.owner_id:
            raise ValidationError("The owner cannot review their own experiment.")
        if user not in scientists:
            raise ValidationError(f"<@{user}> is not a scientist of {project.slug}.")
    chosen = list(dict.fromkeys(named)) or select_reviewers(
        pool, experiment.owner_id, project.rules.quorum
    )
    if not chosen:
        raise ValidationError(
            f"No scientist of {project.slug} other than the owner is"
            " available to review; add one, or name a reviewer."
        )
    review_id = uow.reviews.add(
        actor.team_id, experiment.id, kind, actor.user_id, ctx.now, experiment.conclusions
    )
    for reviewer in chosen:
        uow.reviews.assign(review_id, reviewer, ctx.now)
    review = uow.reviews.get(review_id)
    assert review is not None
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "review_requested",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={
            "kind": kind.value,
            "reviewers": chosen,
            "review": review_id,
            "conclusion": experiment.conclusions,
        },
    )
    latest = uow.evaluations.latest(experiment.id)
    for message in ctx.notices.review_requested(
        experiment, project, review, chosen, project.rules.quorum, evaluation=latest
    ):
        uow.outbox.add(message, ctx.now)
    return Requested(experiment, review, chosen)


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
    if not _is_scientist(ctx.actor, experiment.project):
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
    experiment, project = _load(uow, ctx, number)
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
        return Decided(experiment, review, None, approvals, project.rules.quorum)
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
    """A reviewer hands the review on; the next by the same rule takes over (or nobody)."""
    uow.workspaces.lock(ctx.actor.team_id)
    experiment, project = _load(uow, ctx, number)
    review = current_review(uow, experiment, review_id)
    me = ctx.actor.user_id
    if not any(a.reviewer == me and a.verdict is Verdict.PENDING for a in review.assignments):
        raise ValidationError(f"You have no pending review of {experiment.key} to decline.")
    uow.reviews.set_verdict(review.id, me, Verdict.DECLINED, ctx.now)
    return _reassign(uow, ctx, experiment, project, review, me, "declined", reason)


def _reassign(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    project: Project,
    review: Review,
    leaving: str,
    why: str,
    reason: str,
) -> str | None:
    taken = {a.reviewer for a in review.assignments}
    nxt = select_reviewers(
        candidates(uow, project, ctx.now, ctx.timezone), experiment.owner_id, 1, taken
    )
    successor = nxt[0] if nxt else None
    if successor is not None:
        uow.reviews.assign(review.id, successor, ctx.now)
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        f"review_{why}",
        ctx.now,
        experiment=experiment,
        project_id=project.id,
        detail={"review": review.id, "reviewer": leaving, "reason": reason, "successor": successor},
    )
    for message in ctx.notices.reviewer_changed(
        experiment, project, review, leaving, successor, why, reason
    ):
        uow.outbox.add(message, ctx.now)
    return successor


def schedule_engineering(uow: UnitOfWork, ctx: Context, number: int, note: str) -> Moved:
    """The gate: only complete, peer-reviewed, successful science is scheduled."""
    experiment, project = _load(uow, ctx, number)
    lifecycle.check_mover(experiment, "schedule", ctx.actor)
    unmet = gate(
        experiment, uow.reviews.latest(experiment.id, ReviewKind.RESULTS), project.rules.quorum
    )
    if unmet:
        raise GateClosed(f"{experiment.key} cannot be scheduled for engineering yet:", unmet)
    review = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
    detail = {
        "note": note,
        "conclusion": experiment.conclusions,
        "review": review.id if review else None,
    }
    return _move(uow, ctx, experiment, project, "schedule", detail)


def ship(uow: UnitOfWork, ctx: Context, number: int) -> Moved:
    experiment, project = _load(uow, ctx, number)
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


def waits_on_reviewers(review: Review, experiment: Experiment) -> bool:
    """Whether the review is the experiment's current business (not after a change
    request sent it back to its owner, nor after it started, moved on or was abandoned)."""
    if review.kind is ReviewKind.RESULTS:
        return experiment.status is Status.IN_REVIEW
    return experiment.status is Status.PROPOSED


def list_reviews(
    uow: UnitOfWork, ctx: Context, which: str
) -> list[tuple[Experiment, Review, list[str], int]]:
    """Open reviews: ``mine`` (waiting on me), ``pending`` (my projects), ``overdue``
    (waiting 2 working days or more); with who they wait on and for how long."""
    from zoneinfo import ZoneInfo

    today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
    found = []
    for review, experiment_id in uow.reviews.open_for(ctx.actor.team_id):
        experiment = uow.experiments.by_id(experiment_id)
        if experiment is None or not (ctx.actor.may_read(experiment.project)):
            continue
        if not waits_on_reviewers(review, experiment):
            continue
        waiting = [a for a in review.assignments if a.verdict is Verdict.PENDING]
        if which == "mine" and ctx.actor.user_id not in {a.reviewer for a in waiting}:
            continue
        age = max(
            (
                working_days_between(a.assigned_at.astimezone(ZoneInfo(ctx.timezone)).date(), today)
                for a in waiting
            ),
            default=0,
        )
        if which == "overdue" and age < OVERDUE_DAYS:
            continue
        found.append((experiment, review, [a.reviewer for a in waiting], age))
    found.sort(key=lambda item: -item[3])
    return found


REMIND_AFTER, REPLACE_AFTER, ESCALATE_AFTER = 2, 3, 4  # working days, in the team's zone


def run_review_reminders(db: Database, notices: Notices, now: datetime, timezone: str) -> list[str]:
    """Remind reviewers after 2 working days, replace them after 3, tell managers after 4;
    weekends skipped; each step once per reviewer and review (the run ledger)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    with db.read() as uow:
        open_reviews = uow.reviews.everywhere_open()
    done: list[str] = []
    for team_id, review in open_reviews:
        for assignment in review.assignments:
            steps: tuple[tuple[int, str], ...]
            if assignment.verdict is Verdict.PENDING:
                steps = (
                    (REMIND_AFTER, "remind"),
                    (REPLACE_AFTER, "replace"),
                    (ESCALATE_AFTER, "escalate"),
                )
            elif assignment.verdict is Verdict.REPLACED:
                steps = ((ESCALATE_AFTER, "escalate"),)  # the review still waits
            else:
                continue
            days = working_days_between(assignment.assigned_at.astimezone(zone).date(), today)
            for threshold, step in steps:
                if days < threshold:
                    continue
                note = _safely(
                    _overdue_step,
                    db,
                    notices,
                    now,
                    timezone,
                    team_id,
                    review.id,
                    assignment.reviewer,
                    step,
                    days,
                )
                if note:
                    done.append(note)
    return done


def _safely(step: Any, *args: Any) -> str | None:
    """One review's failure must not stop the others' reminders."""
    try:
        result: str | None = step(*args)
    except Exception:
        log.exception("review-reminders: a step failed; it is tried again next time")
        return None
    return result


def _overdue_step(
    db: Database,
    notices: Notices,
    now: datetime,
    timezone: str,
    team_id: str,
    review_id: int,
    reviewer: str,
    step: str,
    days: int,
) -> str | None:
    with db.write() as uow:
        review = uow.reviews.get(review_id)
        if review is None or not review.open:
            return None
        experiment = uow.experiments.by_id(review.experiment_id)
        if experiment is None or not waits_on_reviewers(review, experiment):
            return None
        # Read again under this transaction: the reviewer may have answered meanwhile.
        verdict = next((a.verdict for a in review.assignments if a.reviewer == reviewer), None)
        allowed = (Verdict.PENDING, Verdict.REPLACED) if step == "escalate" else (Verdict.PENDING,)
        if verdict not in allowed:
            return None
        project = uow.projects.require(team_id, experiment.project)
        if not uow.ledger.claim("review-reminders", f"{review_id}:{reviewer}", step, now):
            return None
        if step == "remind":
            messages = notices.review_reminder(experiment, reviewer, days)
            note = f"reminded <@{reviewer}> of {experiment.key} ({days} working days)"
        elif step == "escalate":
            managers = [
                m.user_id
                for m in uow.members.all_in(team_id)
                if m.as_actor().has(Role.MANAGER, project.slug)
            ]
            messages = notices.review_overdue(experiment, reviewer, days, managers)
            note = f"told {len(managers)} manager(s) {experiment.key} waits on <@{reviewer}>"
        else:
            uow.reviews.set_verdict(review_id, reviewer, Verdict.REPLACED, now)
            ctx = Context(Actor(team_id, "mlgov"), now, notices, timezone)
            successor = _reassign(
                uow,
                ctx,
                experiment,
                project,
                review,
                reviewer,
                "replaced",
                f"no answer in {days} working days",
            )
            uow.commit()
            return f"replaced <@{reviewer}> on {experiment.key} by " + (
                f"<@{successor}>" if successor else "nobody (none available)"
            )
        for message in messages:
            uow.outbox.add(message, now)
        uow.commit()
        return note

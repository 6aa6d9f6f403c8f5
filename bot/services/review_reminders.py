"""Reviews that wait (SPEC §3): the lists, and the job that reminds reviewers after 2
working days, hands their review on after 3 and tells the managers after 4."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.model import Actor, Experiment, Status
from bot.domain.review import (
    REMIND_AFTER,
    Review,
    ReviewKind,
    Verdict,
    select_reviewers,
    working_days_between,
)
from bot.services.availability import fetching_statuses
from bot.services.ports import Context, Notices, Statuses
from bot.services.review_staffing import (
    candidates,
    hand_over,
    managers_of,
    needs_reviewer,
    scientists_of,
)
from bot.services.snoozes import send_snoozed_reviews
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
OVERDUE_DAYS = 2  # working days before a reviewer is reminded
REPLACE_AFTER, ESCALATE_AFTER = 3, 4  # working days, in the team's zone (REMIND_AFTER: 2)


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
    (waiting 2 working days or more, or needing a reviewer); with who they wait on and
    for how long. ``Review.needs_reviewer`` says which need a reviewer."""
    zone = ZoneInfo(ctx.timezone)
    today = ctx.now.astimezone(zone).date()
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
        asked = [a.assigned_at for a in waiting] or [review.requested_at]
        age = max(working_days_between(at.astimezone(zone).date(), today) for at in asked)
        if which == "overdue" and age < OVERDUE_DAYS and not review.needs_reviewer:
            continue
        found.append((experiment, review, [a.reviewer for a in waiting], age))
    found.sort(key=lambda item: (not item[1].needs_reviewer, -item[3]))
    return found


def run_review_reminders(
    db: Database,
    notices: Notices,
    now: datetime,
    timezone: str,
    statuses: Statuses | None = None,
) -> list[str]:
    """Remind reviewers after 2 working days, hand the review on after 3 (or keep them and
    say it needs a reviewer), tell managers after 4; weekends skipped; each step once per
    reviewer and review (the run ledger); only current scientists of the project."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    with db.read() as uow:
        paused = uow.pauses.paused()  # uninstalled: skipped until reinstalled
        open_reviews = [(t, r) for t, r in uow.reviews.everywhere_open() if t not in paused]
    done: list[str] = send_snoozed_reviews(db, notices, now, timezone)
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
                where = Context(Actor(team_id, "mlgov"), now, notices, timezone, statuses=statuses)
                note = _safely(_overdue_step, db, where, review.id, assignment.reviewer, step, days)
                if note:
                    done.append(note)
    return done


def _safely(step: Any, db: Database, ctx: Context, *args: Any) -> str | None:
    """One review's failure must not stop the others' reminders."""
    try:
        result: str | None = fetching_statuses(ctx.statuses, lambda: step(db, ctx, *args))
    except Exception:
        log.exception("review-reminders: a step failed; it is tried again next time")
        return None
    return result


def _overdue_step(
    db: Database, ctx: Context, review_id: int, reviewer: str, step: str, days: int
) -> str | None:
    team_id, now, notices = ctx.actor.team_id, ctx.now, ctx.notices
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
        member = reviewer in scientists_of(uow, project)
        if not member:
            # Reviewers are current members: nobody reminds, or waits on, someone who left.
            if verdict is not Verdict.PENDING:
                return None
            note = _replace(uow, ctx, experiment, review, reviewer, "no longer on the project")
        elif step == "replace":
            note = _replace(uow, ctx, experiment, review, reviewer, days=days)
        elif not uow.ledger.claim("review-reminders", f"{review_id}:{reviewer}", step, now):
            return None
        elif step == "remind":
            for message in notices.review_reminder(experiment, reviewer, days, review_id=review.id):
                uow.outbox.add(message, now)
            note = f"reminded <@{reviewer}> of {experiment.key} ({days} working days)"
        else:
            managers = managers_of(uow, project)
            for message in notices.review_overdue(experiment, reviewer, days, managers):
                uow.outbox.add(message, now)
            note = f"told {len(managers)} manager(s) {experiment.key} waits on <@{reviewer}>"
        uow.commit()
        return note


def _replace(
    uow: UnitOfWork,
    ctx: Context,
    experiment: Experiment,
    review: Review,
    reviewer: str,
    reason: str = "",
    days: int = 0,
) -> str | None:
    """Hand a silent (or departed) reviewer's review on; when nobody eligible can take it,
    a silent reviewer stays, and the review needs a reviewer (managers told once). Tried
    again on every run until someone can take over."""
    project = uow.projects.require(experiment.team_id, experiment.project)
    taken = {a.reviewer for a in review.assignments}
    pool = candidates(uow, ctx, project)
    nobody = not select_reviewers(pool.candidates, experiment.owner_id, 1, taken)
    if nobody and not reason:
        why = (
            f"<@{reviewer}> has not answered in {days} working days and no other scientist"
            f" of {project.slug} can take over"
        )
        if needs_reviewer(uow, ctx, experiment, project, review, why):
            return f"kept <@{reviewer}> on {experiment.key}: nobody can take over; managers told"
        return None
    scope = f"{review.id}:{reviewer}"
    if not uow.ledger.claim("review-reminders", scope, "replace", ctx.now):
        return None
    uow.reviews.set_verdict(review.id, reviewer, Verdict.REPLACED, ctx.now)
    reason = reason or f"no answer in {days} working days"
    successor = hand_over(uow, ctx, experiment, project, review, reviewer, "replaced", reason)
    if successor is None:
        return f"{experiment.key} needs a reviewer: <@{reviewer}> left it; managers told"
    return f"replaced <@{reviewer}> on {experiment.key} by <@{successor}>"

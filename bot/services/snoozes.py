"""Snoozed reminders (SPEC §13): "Remind me in 2 h / tomorrow / Monday" under a review
reminder or a stale nudge, and the jobs' part that sends each back once, when it is due.

A snooze moves a reminder only. It is not audited (it changes nothing of an experiment)
and so is no activity: a stale experiment stays stale, and a review's latency still
counts from its request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import KEY_PATTERN, Experiment
from bot.domain.nudges import STALE_AFTER, recipients
from bot.domain.review import Verdict, working_days_between
from bot.domain.snooze import SnoozeFor, SnoozeKind, WorkingDay, snooze_until
from bot.services.ports import Context, Notices
from storage.snoozes import Snoozed
from storage.unit_of_work import Database, UnitOfWork

MAX_SUBJECTS = 50  # experiments one stale nudge may list


@dataclass(frozen=True)
class Snoozing:
    what: str  # "the review of EXP-7", "EXP-3 and EXP-5"
    until: datetime
    note: str  # what keeps going meanwhile


def snooze(
    uow: UnitOfWork, ctx: Context, kind: SnoozeKind, subject: str, choice: SnoozeFor
) -> Snoozing:
    """Bring a reminder of the actor's back at the chosen time, in working hours."""
    actor = ctx.actor
    rules = uow.workspaces.rules(actor.team_id)
    until = snooze_until(choice, ctx.now, ZoneInfo(ctx.timezone), WorkingDay(*rules.day))
    if kind is SnoozeKind.REVIEW:
        experiment = _own_review(uow, ctx, subject)
        subjects, what = [subject], f"the review of {experiment.key}"
        note = (
            "The review's clock keeps running: it is still handed on after 3 working days"
            " without an answer, and its wait counts from the request."
        )
    else:
        experiments = _own_stale(uow, ctx, subject)
        subjects = [e.key for e in experiments]
        what = " and ".join(subjects) if len(subjects) <= 3 else f"{len(subjects)} experiments"
        note = "Snoozing is no activity: they stay stale until something happens to them."
    uow.workspaces.ensure(actor.team_id, ctx.now)
    uow.snoozes.snooze(actor.team_id, actor.user_id, kind, subjects, until, ctx.now)
    return Snoozing(what, until, note)


def _own_review(uow: UnitOfWork, ctx: Context, subject: str) -> Experiment:
    review = uow.reviews.get(int(subject)) if subject.isascii() and subject.isdigit() else None
    experiment = uow.experiments.by_id(review.experiment_id) if review else None
    if review is None or experiment is None or experiment.team_id != ctx.actor.team_id:
        raise NotFound("That review no longer exists; nothing to snooze.")
    if not review.open or ctx.actor.user_id not in review.pending():
        raise ValidationError(
            f"The review of {experiment.key} no longer waits on you; nothing to snooze."
        )
    return experiment


def _own_stale(uow: UnitOfWork, ctx: Context, subject: str) -> list[Experiment]:
    keys = [k.strip() for k in subject.split(",") if k.strip()]
    matches = [KEY_PATTERN.match(k) for k in keys]
    if not keys or len(keys) > MAX_SUBJECTS or any(m is None for m in matches):
        raise ValidationError("That button names no experiment I know; nothing to snooze.")
    found = []
    for match in matches:
        assert match is not None
        experiment = uow.experiments.require(ctx.actor.team_id, int(match.group(1)))
        if not ctx.actor.may_read(experiment.project):
            raise PermissionDenied(f"You are not on project {experiment.project}.")
        found.append(experiment)
    return found


# --- the jobs' part ----------------------------------------------------------------------


def send_snoozed_reviews(db: Database, notices: Notices, now: datetime, timezone: str) -> list[str]:
    """Remind again each reviewer whose snoozed reminder is due, once; not when the
    review no longer waits on them (answered, handed on, closed)."""
    zone = ZoneInfo(timezone)
    with db.read() as uow:
        paused = uow.pauses.paused()
        due = [s for s in uow.snoozes.due(SnoozeKind.REVIEW, now) if s.team_id not in paused]
    done = []
    for snoozed in due:
        with db.write() as uow:
            if not uow.snoozes.mark_sent(snoozed.id, snoozed.until, now):
                continue
            note = _remind_again(uow, notices, snoozed, now, zone)
            uow.commit()
        if note:
            done.append(note)
    return done


def _remind_again(
    uow: UnitOfWork, notices: Notices, snoozed: Snoozed, now: datetime, zone: ZoneInfo
) -> str | None:
    from bot.services.review_reminders import waits_on_reviewers

    review = uow.reviews.get(int(snoozed.subject))
    experiment = uow.experiments.by_id(review.experiment_id) if review else None
    if review is None or experiment is None or not review.open:
        return None
    if not waits_on_reviewers(review, experiment):
        return None
    assigned = next(
        (
            a.assigned_at
            for a in review.assignments
            if a.reviewer == snoozed.user_id and a.verdict is Verdict.PENDING
        ),
        None,
    )
    if assigned is None:
        return None
    days = working_days_between(assigned.astimezone(zone).date(), now.astimezone(zone).date())
    for message in notices.review_reminder(experiment, snoozed.user_id, days, review_id=review.id):
        uow.outbox.add(message, now)
    return f"reminded <@{snoozed.user_id}> of {experiment.key} again (snoozed)"


def send_snoozed_nudges(db: Database, notices: Notices, now: datetime) -> list[str]:
    """Nudge again about snoozed stale experiments that are due and still idle."""
    with db.read() as uow:
        paused = uow.pauses.paused()
        due = [s for s in uow.snoozes.due(SnoozeKind.STALE, now) if s.team_id not in paused]
        idle = {
            (e.team_id, e.key): (e, at) for e, at in uow.experiments.idle_since(now - STALE_AFTER)
        }
    by_user: dict[tuple[str, str], list[Snoozed]] = {}
    for snoozed in due:
        by_user.setdefault((snoozed.team_id, snoozed.user_id), []).append(snoozed)
    done = []
    for (team_id, user_id), snoozes in sorted(by_user.items()):
        with db.write() as uow:
            mine = [s for s in snoozes if uow.snoozes.mark_sent(s.id, s.until, now)]
            still = [idle[(team_id, s.subject)] for s in mine if (team_id, s.subject) in idle]
            # Still theirs to hear about: the owner, or a manager once the owner left.
            items = recipients(still, uow.members.all_in(team_id), now).get(user_id, [])
            for message in notices.stale_nudge(team_id, user_id, items) if items else []:
                uow.outbox.add(message, now)
            uow.commit()
        if items:
            keys = ", ".join(i.experiment.key for i in items)
            done.append(f"nudged <@{user_id}> again about {keys} (snoozed)")
    return done

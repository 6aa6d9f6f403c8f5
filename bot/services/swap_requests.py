"""Swap requests: a presenter offers their week with a **Take it** button in the project
channel; the first eligible member who presses it takes the week (recorded as a swap).
Nobody within 2 working days: the managers are told (the rotation job)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from bot.domain import rotation as rot
from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import Actor, Project, Role
from bot.domain.rotation import Offer, RotationConfig, Slot, SwapRequest
from bot.domain.snooze import WorkingDay, add_working_time
from bot.services.ports import Context, Notices
from bot.services.rotation import absences, config_of, managers_of, meeting_on, plan_weeks
from bot.services.swaps import HORIZON, close_offer, close_stale_offers, stale_reason, swap
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
UNANSWERED_AFTER = 2  # working days before the managers are told


def _slot(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig, week: date
) -> Slot:
    return plan_weeks(uow, ctx, project, config, [week])[0]


def eligible_takers(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig, slot: Slot
) -> list[str]:
    """Who could present ``slot`` instead: its pool, joined by then, not away (recorded or
    by Slack status, as every plan sees it), not its presenter."""
    role = rot.TOPIC_ROLE[slot.topic]
    pool = [
        m.user_id
        for m in uow.rotations.pool(project.id)
        if m.role is role and m.joined_on <= slot.week and m.user_id != slot.presenter
    ]
    away = {
        a.user_id for a in absences(uow, ctx, project, config, slot.week)[0] if a.covers(slot.week)
    }
    return [u for u in pool if u not in away]


def request_swap(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, day: date | None
) -> Offer:
    """Offer a week to the presenter's pool: the presenter's own, or any (managers)."""
    actor = ctx.actor
    manager = actor.is_admin() or actor.has(Role.MANAGER, project.slug)
    config = config_of(uow, project, timezone)
    if day is None:
        weeks = rot.meetings_from(config, ctx.now, HORIZON)
        mine = [
            s for s in plan_weeks(uow, ctx, project, config, weeks) if s.presenter == actor.user_id
        ]
        if not mine:
            raise ValidationError(
                f"You present at none of the next {HORIZON} {project.slug} meetings;"
                " name the date of the one to offer."
            )
        slot = mine[0]
    else:
        week = meeting_on(config, ctx.now, day, project.slug)
        if week > rot.meetings_from(config, ctx.now, HORIZON)[-1]:
            # A swap is recorded for the next HORIZON weeks only (bot.services.swaps.swap).
            raise ValidationError(
                f"{week} is more than {HORIZON} weeks ahead; offer it nearer the time."
            )
        slot = _slot(uow, ctx, project, config, week)
    if slot.cancelled is not None:
        raise ValidationError(f"The {project.slug} meeting of {slot.week} is skipped.")
    if slot.presenter is None:
        raise ValidationError(f"Nobody presents at the {project.slug} meeting of {slot.week}.")
    if slot.presenter != actor.user_id and not manager:
        raise PermissionDenied(
            f"<@{slot.presenter}> presents on {slot.week}: only they, or a manager of"
            f" {project.slug}, can offer that week."
        )
    if any(s.week == slot.week for s in uow.rotations.history(project.id, slot.week)):
        raise ValidationError(f"The {slot.week} meeting was announced already; tell the channel.")
    close_stale_offers(uow, ctx, project, config)  # one whose presenter changed ends here
    if uow.swap_requests.open_for(project.id, slot.week) is not None:
        raise ValidationError(
            f"The {slot.week} meeting is offered already; its Take it button is in the"
            f" {project.slug} channel."
        )
    if not eligible_takers(uow, ctx, project, config, slot):
        raise ValidationError(
            f"Nobody else in the {slot.topic} pool of {project.slug} can present on"
            f" {slot.week}; a manager can skip it (`/rotation skip {slot.week}`)."
        )
    request = uow.swap_requests.add(project.id, slot.week, slot.presenter, actor.user_id, ctx.now)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "rotation_swap_requested",
        ctx.now,
        project_id=project.id,
        detail={"week": slot.week.isoformat(), "presenter": slot.presenter},
    )
    offer = Offer(project, request, slot, rot.at_local(config, slot.week, config.meeting), config)
    for message in ctx.notices.swap_offered(offer):
        uow.outbox.add(message, ctx.now)
    return offer


def take_swap(uow: UnitOfWork, ctx: Context, request_id: int, timezone: str) -> Offer:
    """The **Take it** button: the first eligible presser presents instead."""
    request = uow.swap_requests.get(request_id)
    project = uow.projects.by_id(request.project_id) if request else None
    if request is None or project is None or project.team_id != ctx.actor.team_id:
        raise NotFound("That offer no longer exists.")
    if not request.open:
        if request.taken_by:
            raise ValidationError(f"<@{request.taken_by}> took this week already.")
        raise ValidationError(f"This offer is closed: {request.closed_reason}.")
    if ctx.actor.user_id == request.presenter:
        raise ValidationError("It is your own week; someone else in the pool can take it.")
    config = config_of(uow, project, timezone)
    slot = _slot(uow, ctx, project, config, request.week)
    if slot.presenter != request.presenter:
        raise ValidationError(
            f"<@{slot.presenter}> presents on {request.week} now; this offer no longer holds."
        )
    if ctx.actor.user_id not in eligible_takers(uow, ctx, project, config, slot):
        raise PermissionDenied(
            f"Only someone in the {slot.topic} pool of {project.slug} who is not away on"
            f" {request.week} can take it."
        )
    # The claim first: of two people pressing at once, one closes the request and the
    # other's UPDATE finds it closed (see SwapRequests.close).
    if not uow.swap_requests.close(request.id, "taken", ctx.now, ctx.actor.user_id):
        taken = uow.swap_requests.get(request.id)
        who = f"<@{taken.taken_by}>" if taken and taken.taken_by else "Someone"
        raise ValidationError(f"{who} took this week already.")
    done = swap(
        uow,
        ctx,
        project,
        timezone,
        request.presenter,
        ctx.actor.user_id,
        request.week,
        told={request.presenter, ctx.actor.user_id},  # by swap_taken's DMs
    )
    taken = uow.swap_requests.get(request.id)
    assert taken is not None
    meeting = rot.at_local(config, done.slot.week, config.meeting)
    traded = done.traded.week if done.traded is not None else None
    offer = Offer(project, taken, done.slot, meeting, config, traded)
    for message in ctx.notices.swap_taken(offer):
        uow.outbox.add(message, ctx.now)
    return offer


# --- the rotation job's part ----------------------------------------------------------


def follow_up_offers(db: Database, notices: Notices, now: datetime, timezone: str) -> list[str]:
    """Close offers that no longer hold; tell the managers of those nobody took in time."""
    done: list[str] = []
    with db.read() as uow:
        paused = uow.pauses.paused()
        open_ids = [r.id for r in uow.swap_requests.all_open()]
    for request_id in open_ids:
        try:
            with db.write() as uow:
                note = _follow_up(uow, notices, request_id, now, timezone, paused)
                if note:
                    uow.commit()
                    done.append(note)
        except Exception:  # one offer's failure must not stop the others
            log.exception("rotation: swap request %s failed; tried again next time", request_id)
    return done


def _follow_up(
    uow: UnitOfWork,
    notices: Notices,
    request_id: int,
    now: datetime,
    timezone: str,
    paused: dict[str, str],
) -> str | None:
    request = uow.swap_requests.get(request_id)
    project = uow.projects.by_id(request.project_id) if request else None
    if request is None or project is None or not request.open or project.team_id in paused:
        return None
    config = config_of(uow, project, timezone)
    meeting = rot.at_local(config, request.week, config.meeting)
    # Planned with the Slack statuses last read (a job that never waits on Slack).
    ctx = Context(Actor(project.team_id, "mlgov"), now, notices, timezone)
    slot = _slot(uow, ctx, project, config, request.week)
    why = stale_reason(uow, project, config, request, slot, now)
    if why is not None:
        if not close_offer(uow, notices, project, request, why, now):
            return None
        return f"{project.slug}: closed the offer of {request.week} ({why})"
    eve = rot.at_local(config, request.week - timedelta(days=1), config.announce)
    if now < unanswered_at(uow, project, config, request) and now < eve:
        return None
    if not uow.ledger.claim("rotation", str(project.id), f"swap-unanswered:{request.id}", now):
        return None
    managers = managers_of(uow, project)
    offer = Offer(project, request, slot, meeting, config)
    for message in notices.swap_unanswered(offer, managers):
        uow.outbox.add(message, now)
    return f"{project.slug}: told {len(managers)} manager(s) nobody took the week of {request.week}"


def unanswered_at(
    uow: UnitOfWork, project: Project, config: RotationConfig, request: SwapRequest
) -> datetime:
    """When an offer has waited 2 working days: working time, counted in the team's working
    hours and time zone (as snoozes count it), so an offer made Thursday 14:42 is due
    Monday 14:42."""
    hours = WorkingDay(*uow.workspaces.rules(project.team_id).day)
    workday = datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)
    return add_working_time(request.created_at, UNANSWERED_AFTER * workday, config.zone, hours)

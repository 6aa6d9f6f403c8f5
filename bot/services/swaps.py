"""Swaps (``/rotation swap``, and the **Take it** button through it): two people trade
weeks, nobody else moves; and the end of offers a change of presenter leaves stale.

A swap of week W between its presenter P and T is a trade: T presents W and P presents
T's next meeting of the same topic after W that P can present (not away, not offered by
T). Both are recorded as swaps, and the plan credits each week to the one who was due
(bot.domain.rotation), so no third person's week moves. Without such a meeting of T's in
the next 26 weeks, P simply hands W over. Anyone whose weeks still change is told by DM.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from bot.domain import rotation as rot
from bot.domain.errors import PermissionDenied, ValidationError
from bot.domain.model import Project, Role
from bot.domain.rotation import Moved, RotationConfig, Slot, Swap, SwapRequest
from bot.services.ports import Context, Notices
from bot.services.rotation import absences, config_of, plan_weeks
from storage.unit_of_work import UnitOfWork

HORIZON = 26  # weeks within which a swap is recorded (and its trade looked for)


@dataclass(frozen=True)
class Swapped:
    """A swap done: the week as it is now, the week traded back (None: a plain hand-over),
    everyone whose weeks changed, who handed the week over, and who was told by DM."""

    project: Project
    config: RotationConfig
    slot: Slot
    traded: Slot | None
    moved: tuple[Moved, ...]
    outgoing: str | None = None  # who presented the week before this swap
    told: tuple[str, ...] = ()  # those of ``moved`` DMed (not the one who asked, nor ``told``)


def swap(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    timezone: str,
    a: str,
    b: str,
    week: date | None,
    *,
    told: Collection[str] = (),
) -> Swapped:
    """Trade a meeting between ``a`` and ``b`` (one of them, or a manager, may ask); those in
    ``told`` hear of it otherwise (the Take it button), everyone else moved gets a DM."""
    actor = ctx.actor
    if actor.user_id not in (a, b) and not actor.has(Role.MANAGER, project.slug):
        raise PermissionDenied("Only one of the two, or a manager, can swap a presentation.")
    if a == b:
        raise ValidationError("A swap needs two different people.")
    config = config_of(uow, project, timezone)
    horizon = rot.meetings_from(config, ctx.now, HORIZON)
    before = plan_weeks(uow, ctx, project, config, horizon)
    target = _target(before, project, horizon, a, b, week)
    _check(uow, ctx, project, config, target, a, b)
    assert target.presenter is not None
    incoming = b if target.presenter == a else a
    traded = _trade_week(uow, ctx, project, config, before, target, incoming)
    uow.rotations.add_swap(
        project.id, Swap(target.week, target.presenter, incoming), actor.user_id, ctx.now
    )
    if traded is not None:
        uow.rotations.add_swap(
            project.id, Swap(traded.week, incoming, target.presenter), actor.user_id, ctx.now
        )
    after = plan_weeks(uow, ctx, project, config, horizon)
    now = next(s for s in after if s.week == target.week)
    if now.presenter != incoming:  # every reason is checked above; this guards the planner
        raise ValidationError(
            f"Swapping <@{a}> and <@{b}> would not change who presents on {target.week};"
            " nothing swapped."
        )
    detail = {"week": target.week.isoformat(), "from": target.presenter, "to": incoming}
    if traded is not None:
        detail["traded"] = traded.week.isoformat()
    uow.audit.record(
        actor.team_id, actor.user_id, "rotation_swap", ctx.now, project_id=project.id, detail=detail
    )
    moved = tuple(_moved(before, after))
    skip_dm = {actor.user_id, *told}
    dms = tuple(person for person in moved if person.user not in skip_dm)
    for person in dms:
        for message in ctx.notices.presentations_moved(project, config, person):
            uow.outbox.add(message, ctx.now)
    close_stale_offers(uow, ctx, project, config)
    again = next((s for s in after if traded is not None and s.week == traded.week), None)
    told_now = tuple(person.user for person in dms)
    return Swapped(project, config, now, again, moved, target.presenter, told_now)


def _target(
    slots: list[Slot], project: Project, horizon: list[date], a: str, b: str, week: date | None
) -> Slot:
    if week is None:
        mine = [s for s in slots if s.presenter in (a, b)]
        if not mine:
            raise ValidationError(
                f"Neither <@{a}> nor <@{b}> presents in the next {HORIZON} weeks."
            )
        return mine[0]
    found = [s for s in slots if s.week == week]
    if not found:
        raise ValidationError(
            f"{week} is not one of the next meetings of {project.slug}"
            f" ({', '.join(d.isoformat() for d in horizon[:4])}, …)."
        )
    return found[0]


def _check(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    config: RotationConfig,
    target: Slot,
    a: str,
    b: str,
) -> None:
    """Refuse, naming the reason, a swap that cannot happen."""
    if target.cancelled is not None:
        raise ValidationError(
            f"The {target.week} meeting of {project.slug} is skipped; nothing to swap"
            f" (`/rotation skip cancel {target.week}` holds it after all)."
        )
    pool = {
        m.user_id for m in uow.rotations.pool(project.id) if m.role is rot.TOPIC_ROLE[target.topic]
    }
    missing = [u for u in (a, b) if u not in pool]
    if missing:
        raise ValidationError(
            f"<@{missing[0]}> is not in the {target.topic} pool of {project.slug}."
        )
    if any(s.week == target.week for s in uow.rotations.history(project.id, target.week)):
        raise ValidationError(
            f"The {target.week} meeting was announced already; nothing swapped."
            " Swap a later one, or tell the channel."
        )
    if target.presenter is None:
        raise ValidationError(f"Nobody presents on {target.week}; nothing to swap.")
    if target.presenter not in (a, b):
        raise ValidationError(f"Neither presents on {target.week} (<@{target.presenter}> does).")
    incoming = b if target.presenter == a else a
    why = away_on(uow, ctx, project, config, incoming, target.week)
    if why is not None:
        raise ValidationError(f"<@{incoming}> is away on {target.week} ({why}); nothing swapped.")


def away_on(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig, user: str, day: date
) -> str | None:
    """Why ``user`` is away on ``day`` (as every plan counts it), or None."""
    found = absences(uow, ctx, project, config, day)[0]
    return next((x.reason for x in found if x.user_id == user and x.covers(day)), None)


def _trade_week(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    config: RotationConfig,
    slots: list[Slot],
    target: Slot,
    incoming: str,
) -> Slot | None:
    """``incoming``'s next meeting after ``target`` of its topic that its presenter can
    present instead; None when there is none within the horizon."""
    assert target.presenter is not None
    for slot in slots:
        if slot.week <= target.week or slot.presenter != incoming or slot.topic != target.topic:
            continue
        if uow.swap_requests.open_for(project.id, slot.week) is not None:
            continue  # offered: the offer decides who takes it
        if away_on(uow, ctx, project, config, target.presenter, slot.week) is None:
            return slot
    return None


def _moved(before: list[Slot], after: list[Slot]) -> list[Moved]:
    def weeks(slots: list[Slot]) -> dict[str, set[date]]:
        table: dict[str, set[date]] = {}
        for slot in slots:
            if slot.presenter is not None:
                table.setdefault(slot.presenter, set()).add(slot.week)
        return table

    old, new = weeks(before), weeks(after)
    moved = []
    for user in sorted(old.keys() | new.keys()):
        lost, gained = old.get(user, set()), new.get(user, set())
        if lost != gained:
            moved.append(Moved(user, tuple(sorted(lost - gained)), tuple(sorted(gained - lost))))
    return moved


# --- offers a change of presenter leaves stale -----------------------------------------


def stale_reason(
    uow: UnitOfWork,
    project: Project,
    config: RotationConfig,
    request: SwapRequest,
    slot: Slot,
    now: datetime,
) -> str | None:
    """Why an open offer no longer holds (its meeting announced, begun or skipped, or another
    presenter now), or None while it does."""
    meeting = rot.at_local(config, request.week, config.meeting)
    if now >= meeting or any(s.week == request.week for s in uow.rotations.history(project.id)):
        return "the meeting was announced"
    if slot.cancelled is not None:
        return "the meeting was skipped"
    if slot.presenter != request.presenter:
        return f"<@{slot.presenter}> presents now" if slot.presenter else "nobody presents now"
    return None


def close_offer(
    uow: UnitOfWork,
    notices: Notices,
    project: Project,
    request: SwapRequest,
    why: str,
    now: datetime,
) -> bool:
    """End an open offer and edit its post to say why; False when it had ended already."""
    if not uow.swap_requests.close(request.id, why, now):
        return False
    for message in notices.swap_closed(project, request, why):
        uow.outbox.add(message, now)
    return True


def close_stale_offers(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig | None = None
) -> list[str]:
    """End every open offer of ``project`` that no longer holds, saying why on its post.

    Called by every use case that changes who presents (a swap, a take, a skip, an absence,
    joining or leaving, a new configuration) and by the rotation job, which also catches
    what changes outside mlgov (a Slack status)."""
    config = config or config_of(uow, project, ctx.timezone)
    offers = [r for r in uow.swap_requests.all_open() if r.project_id == project.id]
    if not offers:
        return []
    weeks = sorted({r.week for r in offers})
    slots = {s.week: s for s in plan_weeks(uow, ctx, project, config, weeks)}
    closed = []
    for request in offers:
        why = stale_reason(uow, project, config, request, slots[request.week], ctx.now)
        if why is not None and close_offer(uow, ctx.notices, project, request, why, ctx.now):
            closed.append(f"{project.slug}: closed the offer of {request.week} ({why})")
    return closed


def close_stale_offers_of_team(uow: UnitOfWork, ctx: Context) -> list[str]:
    """close_stale_offers for every project of the actor's team that has an open offer (an
    absence is the team's, not one project's)."""
    ids = {r.project_id for r in uow.swap_requests.all_open()}
    closed: list[str] = []
    for project_id in sorted(ids):
        project = uow.projects.by_id(project_id)
        if project is not None and project.team_id == ctx.actor.team_id:
            closed += close_stale_offers(uow, ctx, project)
    return closed

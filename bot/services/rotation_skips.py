"""Skipped meetings (``/rotation skip``): no meeting that week, nobody loses their place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain import rotation as rot
from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import Project, Role
from bot.domain.rotation import RotationConfig, Slot
from bot.services.ports import Context
from bot.services.rotation import YEAR_OF_MEETINGS, config_of, meeting_on, plan_weeks
from bot.services.swaps import close_stale_offers
from storage.unit_of_work import UnitOfWork

SHOWN_AFTER = 4  # meetings listed after a skip, to show who moved
TOLD_AHEAD = 26  # meetings from a skip on whose presenters are told when theirs moves


@dataclass(frozen=True)
class Skipped:
    """A skip recorded (or withdrawn): the week as it is now and the meetings after it."""

    project: Project
    config: RotationConfig
    slot: Slot
    after: list[Slot]


def _check_manager(ctx: Context, project: Project) -> None:
    if not (ctx.actor.is_admin() or ctx.actor.has(Role.MANAGER, project.slug)):
        raise PermissionDenied(f"Only a manager of {project.slug} or an admin skips its meetings.")


def _announced(uow: UnitOfWork, project: Project, week: date) -> bool:
    return any(s.week == week for s in uow.rotations.history(project.id, week))


def skip(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, day: date, reason: str
) -> Skipped:
    """Cancel the meeting of ``day``: no announcement, and the weeks after it shift."""
    _check_manager(ctx, project)
    config = config_of(uow, project, timezone)
    week = meeting_on(config, ctx.now, day, project.slug)
    if _announced(uow, project, week):
        raise ValidationError(
            f"The {project.slug} meeting of {week} was announced already; nothing skipped."
            " Tell the channel instead."
        )
    ahead = _horizon(week)
    planned = plan_weeks(uow, ctx, project, config, ahead)
    before = planned[0]
    held = _held(uow, project, week)
    if before.cancelled is not None or not uow.rotations.add_skip(
        project.id, rot.Skip(week, reason), ctx.actor.user_id, ctx.now
    ):
        raise ValidationError(f"The {project.slug} meeting of {week} is skipped already.")
    moved = _follow_meetings(uow, ctx, project, config, planned, held)
    close_stale_offers(uow, ctx, project, config)  # this week's, and those shifted
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "rotation_skip",
        ctx.now,
        project_id=project.id,
        detail={
            "week": week.isoformat(),
            "reason": reason,
            "presenter": before.presenter,
            "swaps_moved": moved,
        },
    )
    return _tell_who_moved(uow, ctx, project, config, planned, due=before.presenter)


def cancel_skip(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, day: date
) -> Skipped:
    """Hold a skipped meeting after all; the weeks after it shift back."""
    _check_manager(ctx, project)
    config = config_of(uow, project, timezone)
    week = meeting_on(config, ctx.now, day, project.slug)
    ahead = _horizon(week)
    planned = plan_weeks(uow, ctx, project, config, ahead)
    held = _held(uow, project, week)
    if not uow.rotations.remove_skip(project.id, week):
        skipped = uow.rotations.skips(project.id, ctx.now.astimezone(config.zone).date())
        listed = ", ".join(str(s.week) for s in skipped) or "none"
        raise NotFound(f"The {project.slug} meeting of {week} is not skipped (skipped: {listed}).")
    moved = _follow_meetings(uow, ctx, project, config, planned, held)
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "rotation_skip_cancelled",
        ctx.now,
        project_id=project.id,
        detail={"week": week.isoformat(), "swaps_moved": moved},
    )
    close_stale_offers(uow, ctx, project, config)  # the weeks shifted back
    return _tell_who_moved(uow, ctx, project, config, planned, due=None)


def _horizon(week: date) -> list[date]:
    """The meetings whose presenters a skip of ``week`` may move and whose people are told."""
    return [week + timedelta(weeks=i) for i in range(TOLD_AHEAD)]


def _held(uow: UnitOfWork, project: Project, week: date) -> list[date]:
    """The meeting dates from ``week`` on, a year and more ahead, less those skipped."""
    skipped = {rot.monday_of(s.week) for s in uow.rotations.skips(project.id, week)}
    every = (week + timedelta(weeks=i) for i in range(YEAR_OF_MEETINGS + len(skipped) + 1))
    return [d for d in every if rot.monday_of(d) not in skipped]


def _follow_meetings(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    config: RotationConfig,
    planned: list[Slot],
    held: list[date],
) -> list[list[str]]:
    """A swap is made for a meeting: when a skip (or its withdrawal) moves the meetings, its
    swaps move along. ``planned`` and ``held`` are the meetings before the change. The moves
    made.

    Within ``planned`` a meeting is the one its due presenter (before any swap) was to give:
    their n-th of that topic. Its swaps go to the n-th that person is due to give now, so a
    trade's return half stays on the meeting of the one who traded it away even when someone
    back from an absence now comes first. Further ahead, the n-th meeting held keeps them."""
    weeks = [slot.week for slot in planned]
    shifted = dict(zip(held, _held(uow, project, weeks[0]), strict=False))
    now = _due_meetings(plan_weeks(uow, ctx, project, config, weeks))
    for key, old in _due_meetings(planned).items():
        shifted[old] = now.get(key, shifted.get(old, old))
    moves = {old: new for old, new in shifted.items() if old != new}
    moved = uow.rotations.move_swaps(project.id, moves)
    return [[old.isoformat(), new.isoformat()] for old, new in moved]


def _due_meetings(slots: list[Slot]) -> dict[tuple[str, rot.Topic, int], date]:
    """Each meeting held by who was due to present it (before any swap): (person, topic, n)
    for their n-th meeting of that topic in ``slots``."""
    count: dict[tuple[str, rot.Topic], int] = {}
    meetings: dict[tuple[str, rot.Topic, int], date] = {}
    for slot in slots:
        due = slot.swapped_from or slot.presenter
        if slot.cancelled is not None or due is None:
            continue
        n = count.get((due, slot.topic), 0)
        count[(due, slot.topic)] = n + 1
        meetings[(due, slot.topic, n)] = slot.week
    return meetings


def _next_presentations(slots: list[Slot]) -> dict[str, Slot]:
    first: dict[str, Slot] = {}
    for slot in slots:
        if slot.presenter is not None:
            first.setdefault(slot.presenter, slot)
    return first


def _tell_who_moved(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    config: RotationConfig,
    planned: list[Slot],
    due: str | None,
) -> Skipped:
    """DM everyone whose next presentation (from the changed week on) moved; ``due``, whose
    week was skipped, gets the skip's own message. The week and those after it, as now."""
    slots = plan_weeks(uow, ctx, project, config, [s.week for s in planned])
    change = slots[0]
    was, now = _next_presentations(planned), _next_presentations(slots)
    for user in dict.fromkeys([*was, *now]):
        old, new = was.get(user), now.get(user)
        if old is not None and new is not None and old.week == new.week:
            continue
        if user == due and old is not None and change.cancelled is not None:
            again = new.week if new is not None else None
            messages = ctx.notices.meeting_skipped(project, old, change.cancelled, user, again)
        else:
            before = old.week if old is not None else None
            messages = ctx.notices.presentation_moved(project, change, user, before, new)
        for message in messages:
            uow.outbox.add(message, ctx.now)
    return Skipped(project, config, change, slots[1 : SHOWN_AFTER + 1])

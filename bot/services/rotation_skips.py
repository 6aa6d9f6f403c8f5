"""Skipped meetings (``/rotation skip``): no meeting that week, nobody loses their place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain import rotation as rot
from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import Project, Role
from bot.domain.rotation import RotationConfig, Slot
from bot.services.ports import Context
from bot.services.rotation import config_of, meeting_on, plan_weeks
from bot.services.swaps import close_stale_offers
from storage.unit_of_work import UnitOfWork

SHOWN_AFTER = 4  # meetings listed after a skip, to show who moved


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


def _weeks_from(config: RotationConfig, week: date) -> list[date]:
    return [week + timedelta(weeks=i) for i in range(SHOWN_AFTER + 1)]


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
    before = plan_weeks(uow, ctx, project, config, [week])[0]
    if before.cancelled is not None or not uow.rotations.add_skip(
        project.id, rot.Skip(week, reason), ctx.actor.user_id, ctx.now
    ):
        raise ValidationError(f"The {project.slug} meeting of {week} is skipped already.")
    close_stale_offers(uow, ctx, project, config)  # this week's, and those shifted
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "rotation_skip",
        ctx.now,
        project_id=project.id,
        detail={"week": week.isoformat(), "reason": reason, "presenter": before.presenter},
    )
    slots = plan_weeks(uow, ctx, project, config, _weeks_from(config, week))
    done = Skipped(project, config, slots[0], slots[1:])
    if before.presenter is not None:
        again = next((s.week for s in done.after if s.presenter == before.presenter), None)
        for message in ctx.notices.meeting_skipped(
            project, before, reason, before.presenter, again
        ):
            uow.outbox.add(message, ctx.now)
    return done


def cancel_skip(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, day: date
) -> Skipped:
    """Hold a skipped meeting after all; the weeks after it shift back."""
    _check_manager(ctx, project)
    config = config_of(uow, project, timezone)
    week = meeting_on(config, ctx.now, day, project.slug)
    if not uow.rotations.remove_skip(project.id, week):
        skipped = uow.rotations.skips(project.id, ctx.now.astimezone(config.zone).date())
        listed = ", ".join(str(s.week) for s in skipped) or "none"
        raise NotFound(f"The {project.slug} meeting of {week} is not skipped (skipped: {listed}).")
    uow.audit.record(
        ctx.actor.team_id,
        ctx.actor.user_id,
        "rotation_skip_cancelled",
        ctx.now,
        project_id=project.id,
        detail={"week": week.isoformat()},
    )
    close_stale_offers(uow, ctx, project, config)  # the weeks shifted back
    slots = plan_weeks(uow, ctx, project, config, _weeks_from(config, week))
    return Skipped(project, config, slots[0], slots[1:])

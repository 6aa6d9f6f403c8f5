"""/rotation handlers."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.commands import (
    CalendarLink,
    CancelAbsence,
    CancelSkip,
    ConfigureRotation,
    JoinRotation,
    ListAbsences,
    RecordAbsence,
    RequestSwap,
    ResetCalendar,
    RotationStats,
    ShowRotation,
    SkipMeeting,
    SwapPresenters,
    TakeSwap,
)
from bot.domain.errors import PermissionDenied
from bot.domain.model import Project
from bot.services import calendar, rotation, rotation_skips, swap_requests, swaps
from bot.services.ports import Context
from bot.slack.blocks import Reply
from bot.slack.blocks import rotation as render
from bot.slack.blocks import swaps as swap_render
from storage.unit_of_work import UnitOfWork


def _project(uow: UnitOfWork, ctx: Context, slug: str | None) -> Project:
    project = rotation.resolve_project(uow, ctx, slug, ctx.channel)
    if not ctx.actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    return project


def show(uow: UnitOfWork, ctx: Context, cmd: ShowRotation) -> Reply:
    project = _project(uow, ctx, cmd.project)
    return render.schedule(rotation.upcoming(uow, ctx, project, ctx.timezone, cmd.weeks))


def stats(uow: UnitOfWork, ctx: Context, cmd: RotationStats) -> Reply:
    project = _project(uow, ctx, cmd.project)
    schedule, table = rotation.past(uow, ctx, project, ctx.timezone, cmd.weeks)
    return render.fairness(schedule, table, cmd.weeks)


def join(uow: UnitOfWork, ctx: Context, cmd: JoinRotation) -> Reply:
    project = _project(uow, ctx, cmd.project)
    roles = rotation.join(uow, ctx, project, cmd.leave)
    swaps.close_stale_offers(uow, ctx, project)
    return render.joined(project.slug, roles, cmd.leave)


def absence(uow: UnitOfWork, ctx: Context, cmd: RecordAbsence) -> Reply:
    recorded = rotation.record_absence(uow, ctx, cmd.start, cmd.end)
    swaps.close_stale_offers_of_team(uow, ctx)
    return render.absence(recorded.start.isoformat(), recorded.end.isoformat())


def absences(uow: UnitOfWork, ctx: Context, cmd: ListAbsences) -> Reply:
    project = _project(uow, ctx, cmd.project) if cmd.project else None
    return render.absences(rotation.list_absences(uow, ctx, project))


def cancel_absence(uow: UnitOfWork, ctx: Context, cmd: CancelAbsence) -> Reply:
    today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
    cancelled = rotation.cancel_absence(uow, ctx, cmd.start)
    swaps.close_stale_offers_of_team(uow, ctx)
    return render.absence_cancelled(cancelled, today)


def swap(uow: UnitOfWork, ctx: Context, cmd: SwapPresenters) -> Reply:
    project = _project(uow, ctx, cmd.project)
    return swap_render.swapped(swaps.swap(uow, ctx, project, ctx.timezone, cmd.a, cmd.b, cmd.week))


def skip(uow: UnitOfWork, ctx: Context, cmd: SkipMeeting) -> Reply:
    project = _project(uow, ctx, cmd.project)
    done = rotation_skips.skip(uow, ctx, project, ctx.timezone, cmd.week, cmd.reason)
    return swap_render.skipped(done)


def cancel_skip(uow: UnitOfWork, ctx: Context, cmd: CancelSkip) -> Reply:
    project = _project(uow, ctx, cmd.project)
    done = rotation_skips.cancel_skip(uow, ctx, project, ctx.timezone, cmd.week)
    return swap_render.skip_cancelled(done)


def request_swap(uow: UnitOfWork, ctx: Context, cmd: RequestSwap) -> Reply:
    project = _project(uow, ctx, cmd.project)
    return swap_render.offered(
        swap_requests.request_swap(uow, ctx, project, ctx.timezone, cmd.week)
    )


def take_swap(uow: UnitOfWork, ctx: Context, cmd: TakeSwap) -> Reply:
    return swap_render.took(swap_requests.take_swap(uow, ctx, cmd.request_id, ctx.timezone))


def calendar_link(uow: UnitOfWork, ctx: Context, cmd: CalendarLink) -> Reply:
    project = None if cmd.personal else _project(uow, ctx, cmd.project)
    return swap_render.calendar_sent(calendar.issue_link(uow, ctx, project))


def reset_calendar(uow: UnitOfWork, ctx: Context, cmd: ResetCalendar) -> Reply:
    project = None
    if not (cmd.every or cmd.personal):
        project = rotation.resolve_project(uow, ctx, cmd.project, ctx.channel)
    revoked = calendar.revoke(uow, ctx, project, cmd.every)
    feed = None if cmd.every else (project.slug if project else "me")
    return swap_render.calendar_reset(revoked, feed)


def configure(uow: UnitOfWork, ctx: Context, cmd: ConfigureRotation) -> Reply:
    project = _project(uow, ctx, cmd.project)
    value = rotation.configure(uow, ctx, project, ctx.timezone, cmd.changes)
    swaps.close_stale_offers(uow, ctx, project, value)
    return render.config(project.slug, value, changed=bool(cmd.changes))


HANDLERS: dict[type, Any] = {
    ShowRotation: show,
    RotationStats: stats,
    JoinRotation: join,
    RecordAbsence: absence,
    ListAbsences: absences,
    CancelAbsence: cancel_absence,
    SwapPresenters: swap,
    SkipMeeting: skip,
    CancelSkip: cancel_skip,
    RequestSwap: request_swap,
    TakeSwap: take_swap,
    CalendarLink: calendar_link,
    ResetCalendar: reset_calendar,
    ConfigureRotation: configure,
}

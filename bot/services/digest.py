"""The weekly digest: preview it, subscribe to it, and the job that sends it once a week.

The figures come from the audit log through pandas (bot.domain.digest); this module picks
the week, the projects and the people, and queues the messages through the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.digest import build_digests
from bot.domain.digest_values import VELOCITY_WEEKS, ProjectDigest, Week
from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import Actor, Project, Role
from bot.domain.rotation import Slot
from bot.domain.rules import digest_schedule
from bot.services import rotation
from bot.services.ports import Context, Notices
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
JOB = "digest"
# The log read for eight weeks of velocity, and reviews requested a while before them.
LOOKBACK = timedelta(weeks=VELOCITY_WEEKS + 4)


@dataclass(frozen=True)
class Digest:
    """One project's digest, with what the renderers need beside the figures."""

    project: Project
    figures: ProjectDigest
    next_rotation: Slot | None
    # Set when the week is still in progress: the figures are the week's so far, as of then.
    so_far: datetime | None = None


def _digests(uow: UnitOfWork, ctx: Context, projects: list[Project], week: Week) -> list[Digest]:
    data = uow.digest.data(ctx.actor.team_id, week.start - LOOKBACK)
    figures = build_digests(data, week, ctx.now, ZoneInfo(ctx.timezone))
    so_far = ctx.now if ctx.now in week else None
    found = []
    for project in projects:
        slots = rotation.upcoming(uow, ctx, project, ctx.timezone, 1).slots
        found.append(Digest(project, figures[project.id], slots[0] if slots else None, so_far))
    return found


def of_week(uow: UnitOfWork, ctx: Context, slug: str, week: Week) -> Digest:
    """One project's digest of ``week`` (as of now: a week in progress so far), as the
    job and the preview compute it; for someone who may read the project."""
    project = uow.projects.require(ctx.actor.team_id, slug)
    if not ctx.actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    if week.start > ctx.now:
        raise ValidationError(f"The week of {week.monday} has not started yet.")
    return _digests(uow, ctx, [project], week)[0]


def preview(uow: UnitOfWork, ctx: Context, slug: str | None, *, last: bool = False) -> list[Digest]:
    """The digest of the week in progress so far (``last``: of the last complete week, as the
    job sends it), for one project or every one the actor reads."""
    actor = ctx.actor
    if slug is not None:
        project = uow.projects.require(actor.team_id, slug)
        if not actor.may_read(project.slug):
            raise PermissionDenied(f"You are not on project {project.slug}.")
        chosen = [project]
    else:
        chosen = [p for p in uow.projects.all_in(actor.team_id) if actor.may_read(p.slug)]
        if not chosen:
            raise NotFound("You are on no project yet, so there is no digest to show.")
    zone = ZoneInfo(ctx.timezone)
    week = Week.ending_before(ctx.now, zone) if last else Week.containing(ctx.now, zone)
    return _digests(uow, ctx, chosen, week)


def subscribe(uow: UnitOfWork, ctx: Context, slug: str | None, *, on: bool) -> str:
    """Ask for (or stop) the weekly DM: of one project, or of every project one may read."""
    actor = ctx.actor
    project = uow.projects.require(actor.team_id, slug) if slug else None
    if project is not None and not actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    scope = project.slug if project else "every project you are on"
    if on and not _member_reads(uow, actor, project):
        # The job sends to people whose roles mlgov stores; an admin by settings alone
        # would be told yes and never receive anything.
        raise PermissionDenied(
            "The digest goes to people with a role on the project: ask a manager to add you"
            " (`/mlgov member add`)."
        )
    if on:
        if not uow.subscriptions.subscribe(
            actor.team_id, actor.user_id, project.id if project else None, ctx.now
        ):
            raise ValidationError(f"You get the digest of {scope} already.")
    elif not uow.subscriptions.unsubscribe(
        actor.team_id, actor.user_id, project.id if project else None
    ):
        raise NotFound(f"You have no digest subscription for {scope}.")
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "digest_subscribe" if on else "digest_unsubscribe",
        ctx.now,
        project_id=project.id if project else None,
        detail={"project": project.slug if project else None},
    )
    return scope


# --- the job ---------------------------------------------------------------------------


def due_at(project: Project, now: datetime, zone: ZoneInfo) -> datetime:
    """The latest scheduled digest time of ``project`` at or before ``now``."""
    weekday, at = digest_schedule(project.rules)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    moment = datetime.combine(monday + timedelta(days=weekday), at, tzinfo=zone)
    if moment > local:
        moment = datetime.combine(monday + timedelta(days=weekday - 7), at, tzinfo=zone)
    return moment


def _member_reads(uow: UnitOfWork, actor: Actor, project: Project | None) -> bool:
    member = uow.members.get(actor.team_id, actor.user_id)
    if member is None:
        return False
    if project is None:
        return bool(member.roles or any(member.project_roles.values()))
    return member.as_actor().may_read(project.slug)


def recipients(uow: UnitOfWork, project: Project) -> list[str]:
    """The project's managers, then subscribers who may read it (each once)."""
    members = uow.members.all_in(project.team_id)
    managers = [m.user_id for m in members if m.as_actor().has(Role.MANAGER, project.slug)]
    readers = {m.user_id for m in members if m.as_actor().may_read(project.slug)}
    subscribed = [
        user
        for user, scope in uow.subscriptions.all_in(project.team_id)
        if scope in (None, project.id) and user in readers
    ]
    return list(dict.fromkeys(managers + subscribed))


def run_digest(db: Database, notices: Notices, now: datetime, timezone: str) -> list[str]:
    """Send each project's digest once per week, at its digest_time in the team's zone."""
    zone = ZoneInfo(timezone)
    done: list[str] = []
    with db.read() as uow:
        paused = uow.pauses.paused()  # uninstalled: skipped until reinstalled
        teams = [t for t in uow.workspaces.team_ids() if t not in paused]
    for team_id in teams:
        ctx = Context(Actor(team_id, "mlgov"), now, notices, timezone)
        with db.read() as uow:
            # Projects due for the same week share one reading of the log.
            due: dict[Week, list[Project]] = {}
            for project in uow.projects.all_in(team_id):
                moment = due_at(project, now, zone)
                week = Week.ending_before(moment, zone)
                claimed = uow.ledger.claimed(JOB, str(project.id), _period(week))
                # Made up whenever the service is back before the next one; a project
                # that did not exist yet at the time gets its first digest next time.
                if project.created_at <= moment and not claimed:
                    due.setdefault(week, []).append(project)
            digests = [d for week, ps in due.items() for d in _digests(uow, ctx, ps, week)]
        for digest in digests:
            try:
                done += _send(db, notices, digest, now)
            except Exception:  # one project's failure must not hold back the others'
                log.exception("digest: %s failed; tried again next time", digest.project.slug)
    return done


def _period(week: Week) -> str:
    return week.start.date().isoformat()


def _send(db: Database, notices: Notices, digest: Digest, now: datetime) -> list[str]:
    from bot import charts  # matplotlib only when a digest goes out

    project, figures = digest.project, digest.figures
    chart = charts.velocity_chart(
        figures.velocity, title=f"{project.slug}: experiments concluded per week"
    )
    with db.write() as uow:
        if not uow.ledger.claim(JOB, str(project.id), _period(figures.week), now):
            return []
        people = recipients(uow, project)
        channel = project.rules.digest_channel or None
        for message in notices.digest_ready(digest, people, channel, chart):
            uow.outbox.add(message, now)
        uow.commit()
    where = ", ".join([f"<@{p}>" for p in people] + ([f"<#{channel}>"] if channel else []))
    return [f"{project.slug}: digest of the week of {_period(figures.week)} to {where or 'nobody'}"]

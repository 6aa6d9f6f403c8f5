"""Use cases of the weekly review rotation, and its scheduled announcements."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from bot.domain import rotation as rot
from bot.domain.errors import NotFound, PermissionDenied, UsageError, ValidationError
from bot.domain.model import Actor, Project, Role, Status
from bot.domain.rotation import Agenda, RotationConfig, Slot
from bot.services.availability import fetching_statuses, slack_absences, unchecked_note
from bot.services.ports import Context, Notices, Statuses
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
# How long after its time a missed post is still made up (e.g. after a restart).
REMINDER_GRACE = timedelta(hours=12)
MAX_ABSENCE = timedelta(days=366)
YEAR_OF_MEETINGS = 53  # how far ahead a meeting may be skipped or offered
SCIENCE_AGENDA = ("conclude",)
ENGINEERING_AGENDA = ("schedule", "ship", "parity")


@dataclass(frozen=True)
class Schedule:
    project: Project
    config: RotationConfig
    slots: list[Slot]
    note: str = ""  # how the presenters were chosen, when that needs saying
    # The meetings managers skipped in a past period (``/rotation stats``).
    skips: tuple[rot.Skip, ...] = ()


def resolve_project(uow: UnitOfWork, ctx: Context, slug: str | None, channel: str) -> Project:
    """The named project, else the channel's, else the actor's only one."""
    team = ctx.actor.team_id
    if slug:
        return uow.projects.require(team, slug)
    if channel:
        found = uow.projects.by_channel(team, channel)
        if found is not None:
            return found
    mine = [p for p in uow.projects.all_in(team) if ctx.actor.on_project(p.slug)]
    if len(mine) == 1:
        return mine[0]
    names = ", ".join(p.slug for p in mine) or "none"
    raise UsageError(f"Which project? Name it (your projects: {names}).")


def config_of(uow: UnitOfWork, project: Project, timezone: str) -> RotationConfig:
    default = RotationConfig(timezone=timezone, anchor=rot.monday_of(project.created_at.date()))
    return uow.rotations.config(project.id, default)


def first_meeting(project: Project, config: RotationConfig) -> date:
    """The first meeting the project could hold: the first to start after its creation."""
    return rot.meetings_from(config, project.created_at, 1)[0]


def absences(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    config: RotationConfig,
    since: date,
    pool: list[rot.PoolMember] | None = None,
) -> tuple[list[rot.Absence], str]:
    """Who is away, for every plan of the rotation (announcement, show, swaps, skips, feeds,
    Home, digest, API alike): the absences recorded with `/rotation ooo` that are not over
    by ``since``, and the pool's people away by their Slack status (from today; see
    bot.services.availability for where statuses come from); and what to say when Slack
    could not be asked ("")."""
    pool = uow.rotations.pool(project.id) if pool is None else pool
    users = list(dict.fromkeys(m.user_id for m in pool))
    slack, unchecked = slack_absences(uow, ctx, users, config.zone)
    recorded = uow.rotations.absences(project.team_id, since)
    return [*recorded, *slack], unchecked_note(unchecked) if unchecked else ""


def plan(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig, weeks: list[date]
) -> tuple[list[Slot], str]:
    """The meetings of ``weeks``: as announced where they were, else as they will be; and
    what to say when Slack statuses could not be read ("").

    Planned from the first meeting on, every week in turn, so that a week nobody
    announced (downtime, a skipped run) counts as planned and moves no one after it:
    the job for a week announces what `/rotation show` listed for it.
    """
    if not weeks:
        return [], ""
    first = min(first_meeting(project, config), weeks[0])
    every = [first + timedelta(weeks=i) for i in range((weeks[-1] - first).days // 7 + 1)]
    wanted = {rot.monday_of(w) for w in weeks}
    pool = uow.rotations.pool(project.id)
    away, note = absences(uow, ctx, project, config, first, pool)
    slots = rot.plan(
        config,
        pool,
        uow.rotations.history(project.id),
        away,
        uow.rotations.swaps(project.id, first),
        every,
        uow.rotations.skips(project.id, first),
    )
    return [s for s in slots if rot.monday_of(s.week) in wanted], note


def plan_weeks(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig, weeks: list[date]
) -> list[Slot]:
    """The meetings of ``weeks`` (see plan)."""
    return plan(uow, ctx, project, config, weeks)[0]


def meeting_on(config: RotationConfig, now: datetime, day: date, slug: str) -> date:
    """``day`` as one of the project's next meetings (up to a year ahead), or a clear refusal
    saying why it is not one."""
    next_ones = rot.meetings_from(config, now, YEAR_OF_MEETINGS)
    if day in next_ones:
        return day
    weekday = rot.DAY_NAMES[config.weekday].title()
    if day < next_ones[0]:
        raise ValidationError(
            f"The {slug} meeting of {day} is in the past (or has begun); the next one is"
            f" {next_ones[0]:%a %Y-%m-%d}."
        )
    if day > next_ones[-1]:
        raise ValidationError(f"{day} is more than a year ahead; pick a nearer meeting.")
    that_week = rot.meeting_date(config, rot.monday_of(day))
    raise ValidationError(
        f"{day:%a %Y-%m-%d} is not a meeting day of {slug}: it meets on {weekday}s"
        f" (that week: {that_week:%a %Y-%m-%d})."
    )


def upcoming(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, weeks: int
) -> Schedule:
    """The next ``weeks`` meetings exactly as they will happen (a dry run)."""
    config = config_of(uow, project, timezone)
    slots, note = plan(uow, ctx, project, config, rot.meetings_from(config, ctx.now, weeks))
    return Schedule(project, config, slots, note)


def past(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, weeks: int
) -> tuple[Schedule, dict[str, rot.PersonStats]]:
    """The announced meetings of the last ``weeks`` weeks and their fairness figures."""
    config = config_of(uow, project, timezone)
    today = ctx.now.astimezone(config.zone).date()
    since = today - timedelta(weeks=weeks)
    history = uow.rotations.history(project.id, since)  # announced counts as presented
    skips = tuple(uow.rotations.skips(project.id, since, until=today))
    return Schedule(project, config, history, skips=skips), rot.stats(history)


def join(uow: UnitOfWork, ctx: Context, project: Project, leave: bool) -> list[Role]:
    """Enter (or leave) the presenter pools the actor's roles on the project allow."""
    actor = ctx.actor
    roles = [r for r in (Role.SCIENTIST, Role.ENGINEER) if actor.has(r, project.slug)]
    if not roles:
        raise PermissionDenied(f"Only scientists and engineers of {project.slug} present.")
    if leave:
        if not uow.rotations.leave(project.id, actor.user_id):
            raise NotFound(f"You are not in the {project.slug} rotation.")
    else:
        today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
        changed = [r for r in roles if uow.rotations.join(project.id, actor.user_id, r, today)]
        if not changed:
            raise ValidationError(f"You are in the {project.slug} rotation already.")
        roles = changed
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "rotation_leave" if leave else "rotation_join",
        ctx.now,
        project_id=project.id,
        detail={"roles": [r.value for r in roles]},
    )
    return roles


def record_absence(uow: UnitOfWork, ctx: Context, start: date, end: date) -> rot.Absence:
    """The actor is out of office from ``start`` to ``end`` (inclusive)."""
    if end < start:
        raise ValidationError("The last day is before the first.")
    if end - start > MAX_ABSENCE:
        raise ValidationError("An absence can be at most a year; record longer ones in parts.")
    if end < ctx.now.astimezone(ZoneInfo(ctx.timezone)).date():
        raise ValidationError("That absence is over already; nothing to record.")
    actor = ctx.actor
    uow.workspaces.ensure(actor.team_id, ctx.now)
    absence = rot.Absence(actor.user_id, start, end)
    uow.rotations.add_absence(actor.team_id, absence, ctx.now)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "out_of_office",
        ctx.now,
        detail={"from": start.isoformat(), "to": end.isoformat()},
    )
    return absence


@dataclass(frozen=True)
class Absences:
    """Absences that are not over: the actor's own, or those of a project's people."""

    project: Project | None
    absences: list[rot.Absence]


def list_absences(uow: UnitOfWork, ctx: Context, project: Project | None) -> Absences:
    """The actor's absences not over yet; with a project, those of everyone on it."""
    actor = ctx.actor
    today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
    if project is None:
        return Absences(None, uow.rotations.absences_of(actor.team_id, [actor.user_id], today))
    if not (actor.is_admin() or actor.has(Role.MANAGER, project.slug)):
        raise PermissionDenied(
            f"Only a manager of {project.slug} or an admin lists its people's absences;"
            " `/rotation ooo list` shows yours."
        )
    people = [
        m.user_id
        for m in uow.members.all_in(project.team_id)
        if m.as_actor().on_project(project.slug)
    ]
    return Absences(project, uow.rotations.absences_of(project.team_id, people, today))


def cancel_absence(uow: UnitOfWork, ctx: Context, start: date) -> list[rot.Absence]:
    """Withdraw the actor's absence from ``start``; one under way ends yesterday."""
    actor = ctx.actor
    today = ctx.now.astimezone(ZoneInfo(ctx.timezone)).date()
    mine = [
        a
        for a in uow.rotations.absences_of(actor.team_id, [actor.user_id], today)
        if a.start == start
    ]
    if not mine:
        known = uow.rotations.absences_of(actor.team_id, [actor.user_id], today)
        listed = ", ".join(f"{a.start} to {a.end}" for a in known) or "none"
        raise NotFound(f"You have no absence from {start} that is not over (yours: {listed}).")
    uow.rotations.cancel_absences(actor.team_id, actor.user_id, start, today)
    for absence in mine:
        detail = {"from": absence.start.isoformat(), "to": absence.end.isoformat()}
        if absence.start < today:  # under way: the days already past stay recorded
            detail["kept_until"] = (today - timedelta(days=1)).isoformat()
        uow.audit.record(
            actor.team_id, actor.user_id, "out_of_office_cancelled", ctx.now, detail=detail
        )
    return mine


def configure(
    uow: UnitOfWork, ctx: Context, project: Project, timezone: str, changes: dict[str, str]
) -> RotationConfig:
    actor = ctx.actor
    current = config_of(uow, project, timezone)
    if not changes:
        return current
    if not (actor.is_admin() or actor.has(Role.MANAGER, project.slug)):
        raise PermissionDenied(
            f"Only a manager of {project.slug} or an admin configures its rotation."
        )
    new = rot.configured(current, changes)
    uow.rotations.save_config(project.id, new)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "rotation_config",
        ctx.now,
        project_id=project.id,
        detail={"before": current.describe(), "after": new.describe()},
    )
    return new


# --- the scheduled job ----------------------------------------------------------------


def agenda(uow: UnitOfWork, project: Project, slot: Slot, now: datetime) -> Agenda:
    """Science: concluded since the last science announcement, and what is in review.
    Engineering: scheduled or shipped since the last engineering announcement."""
    since = uow.rotations.last_announced(project.id, slot.topic, slot.week)
    since = since or datetime.min.replace(tzinfo=UTC)
    until = now
    actions = SCIENCE_AGENDA if slot.topic is rot.Topic.SCIENCE else ENGINEERING_AGENDA
    in_review: list[tuple[str, str]] = []
    if slot.topic is rot.Topic.SCIENCE:
        in_review = [
            (e.key, e.title)
            for e in uow.experiments.find(
                project.team_id, project=project.slug, statuses={Status.IN_REVIEW}
            )
        ]
    return Agenda(uow.audit.moves(project.id, actions, since, until), in_review)


def run_rotation(
    db: Database, notices: Notices, now: datetime, timezone: str, statuses: Statuses | None = None
) -> list[str]:
    """Announce due meetings and remind presenters, each exactly once per meeting."""
    done: list[str] = []
    with db.read() as uow:
        paused = uow.pauses.paused()  # uninstalled: skipped until reinstalled
        projects = [p for p in uow.projects.everywhere() if p.team_id not in paused]
    for project in projects:
        ctx = Context(Actor(project.team_id, "mlgov"), now, notices, timezone, statuses=statuses)
        try:
            note = fetching_statuses(statuses, partial(_announce_or_remind, db, ctx, project))
        except Exception:  # one project's failure must not silence the others
            log.exception("rotation: %s failed; it is tried again next time", project.slug)
            continue
        if note:
            done.append(note)
    return done


def _announce_or_remind(db: Database, ctx: Context, project: Project) -> str | None:
    with db.write() as uow:
        config = config_of(uow, project, ctx.timezone)
        note = _announce(uow, ctx, project, config) or _remind(uow, ctx, project, config)
        if note:
            uow.commit()
        return note


def _announce(
    uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig
) -> str | None:
    notices, now = ctx.notices, ctx.now
    today = now.astimezone(config.zone).date()
    week = rot.meeting_date(config, rot.monday_of(today))
    due, meeting = (
        rot.at_local(config, week, config.announce),
        rot.at_local(config, week, config.meeting),
    )
    if not due <= now < meeting:  # made up after a restart until the meeting starts
        return None
    monday = rot.monday_of(week)
    if uow.rotations.skips(project.id, monday, monday + timedelta(days=6)):
        return None  # skipped: no announcement (announced after all if the skip is withdrawn)
    if not uow.ledger.claim("rotation", str(project.id), f"announce:{week}", now):
        return None
    history = uow.rotations.history(project.id)
    if any(rot.monday_of(s.week) == rot.monday_of(week) for s in history):
        return None  # announced on another day of this week, before the weekday changed
    [slot], unchecked = plan(uow, ctx, project, config, [week])
    if slot.nobody_in_any_pool:
        # Nobody could present: no meeting to announce; the managers are told once.
        told = _tell_managers_of_empty_pools(uow, notices, project, config, slot, history, now)
        return f"{project.slug}: no review on {week}, nobody in any presenter pool{told}"
    uow.rotations.record(project.id, slot, now)
    for message in notices.rotation_announced(
        project, slot, agenda(uow, project, slot, now), meeting, config, unchecked=unchecked
    ):
        uow.outbox.add(message, now)
    told = _tell_managers_of_empty_pools(uow, notices, project, config, slot, history, now)
    return f"{project.slug}: announced the {slot.topic} review of {week}{told}"


def _tell_managers_of_empty_pools(
    uow: UnitOfWork,
    notices: Notices,
    project: Project,
    config: RotationConfig,
    slot: Slot,
    history: list[Slot],
    now: datetime,
) -> str:
    """Tell the managers once that a topic has nobody to present; '' when nothing is new.

    Once per topic until it is presented again: the ledger key names the last week the
    topic was presented, so a pool that empties again later is news again.
    """
    if slot.instead_of is not None:
        empty = [slot.instead_of]
    elif slot.nobody_in_any_pool:
        empty = list(dict.fromkeys(config.pattern))
    else:
        return ""
    new = []
    for topic in empty:
        last = max((s.week for s in history if s.topic is topic and s.presenter), default=None)
        period = f"empty-pool:{topic}:{last or 'never'}"
        if uow.ledger.claim("rotation", str(project.id), period, now):
            new.append(topic)
    if not new:
        return ""
    managers = managers_of(uow, project)
    for message in notices.rotation_pool_empty(project, new, slot, managers):
        uow.outbox.add(message, now)
    told = f"{len(managers)} manager(s)" if managers else "the channel (no managers)"
    have = "has" if len(new) == 1 else "have"
    return f"; told {told} that {' and '.join(new)} {have} nobody to present"


def managers_of(uow: UnitOfWork, project: Project) -> list[str]:
    """Who manages ``project``: its own managers and the workspace-wide ones."""
    return [
        m.user_id
        for m in uow.members.all_in(project.team_id)
        if m.as_actor().has(Role.MANAGER, project.slug)
    ]


def _remind(uow: UnitOfWork, ctx: Context, project: Project, config: RotationConfig) -> str | None:
    notices, now = ctx.notices, ctx.now
    tomorrow = now.astimezone(config.zone).date() + timedelta(days=1)
    week = rot.meeting_date(config, rot.monday_of(tomorrow))
    if week != tomorrow:
        return None
    due = rot.at_local(config, tomorrow - timedelta(days=1), config.announce)
    if not due <= now < due + REMINDER_GRACE:
        return None
    slot = plan_weeks(uow, ctx, project, config, [week])[0]
    if slot.presenter is None:
        return None
    if not uow.ledger.claim("rotation", str(project.id), f"remind:{week}", now):
        return None
    meeting = rot.at_local(config, week, config.meeting)
    for message in notices.presenter_reminder(project, slot, meeting, config):
        uow.outbox.add(message, now)
    return f"{project.slug}: reminded <@{slot.presenter}> of {week}"

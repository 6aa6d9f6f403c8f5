"""Calendar feeds: subscription keys (``/rotation calendar``) and what each feed holds.

A key is 32 random bytes, sent once in the subscription URL by DM and stored only as its
SHA-256 (a key that random needs no slow hash). Each key belongs to one person and opens
one feed: a project's, or their personal one; it stops working when revoked, and a
project's when its owner is no longer on the project. A key that opens nothing gets the
same answer as a wrong one, so the feed's URL tells nothing to whoever guesses at it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.domain import calendar as cal
from bot.domain.calendar import CalendarEvent, CalendarKey, Feed
from bot.domain.errors import PermissionDenied, ValidationError
from bot.domain.model import Project
from bot.services.ports import Context
from bot.services.rotation import upcoming
from storage.unit_of_work import UnitOfWork

MAX_KEYS = 10  # live URLs per person and feed (one per calendar app, with room to spare)
REVIEWS = 100  # reviews owed listed in a personal feed


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _feed_name(project: Project | None) -> str:
    return cal.PERSONAL if project is None else project.slug


def issue_link(uow: UnitOfWork, ctx: Context, project: Project | None) -> str:
    """A new subscription URL for ``project``'s feed (None: the personal one), sent by DM;
    returns the feed's name. Earlier URLs keep working until revoked."""
    actor = ctx.actor
    if not ctx.public_url:
        raise ValidationError(
            "Calendar feeds are off: mlgov does not know the URL at which it can be reached."
            " Ask your mlgov admin to set MLGOV_PUBLIC_URL."
        )
    if project is not None and not actor.may_read(project.slug):
        raise PermissionDenied(f"You are not on project {project.slug}.")
    if project is None and not actor.roles and not actor.project_roles:
        raise PermissionDenied("You have no role in mlgov yet, so no meetings or reviews.")
    project_id = project.id if project else None
    if uow.calendar_keys.count(actor.team_id, actor.user_id, project_id) >= MAX_KEYS:
        raise ValidationError(
            f"You have {MAX_KEYS} live URLs for this calendar already; revoke them with"
            f" `/rotation calendar reset {_feed_name(project)}` first."
        )
    key = secrets.token_urlsafe(32)
    uow.workspaces.ensure(actor.team_id, ctx.now)
    uow.calendar_keys.add(
        hash_key(key), CalendarKey(actor.team_id, actor.user_id, project_id), ctx.now
    )
    feed = _feed_name(project)
    uow.audit.record(
        actor.team_id,
        actor.user_id,
        "calendar_key_issued",
        ctx.now,
        project_id=project_id,
        detail={"feed": feed},
    )
    url = f"{ctx.public_url}/calendar/{quote(feed)}.ics?key={key}"
    for message in ctx.notices.calendar_subscription(actor.team_id, actor.user_id, feed, url):
        uow.outbox.add(message, ctx.now)
    return feed


def revoke(uow: UnitOfWork, ctx: Context, project: Project | None, every: bool) -> int:
    """Revoke the actor's URLs of one feed (``every``: of all feeds); how many."""
    actor = ctx.actor
    project_id = project.id if project else None
    revoked = uow.calendar_keys.revoke(actor.team_id, actor.user_id, project_id, every)
    if revoked:
        uow.audit.record(
            actor.team_id,
            actor.user_id,
            "calendar_keys_revoked",
            ctx.now,
            project_id=project_id,
            detail={"feed": "all" if every else _feed_name(project), "count": revoked},
        )
    return revoked


def find_key(uow: UnitOfWork, key: str) -> CalendarKey | None:
    if not key or len(key) > 200:
        return None
    return uow.calendar_keys.find(hash_key(key))


def feed(uow: UnitOfWork, ctx: Context, key: CalendarKey, name: str) -> Feed | None:
    """The feed ``key`` opens at ``/calendar/<name>.ics`` for its owner (``ctx.actor``), or
    None when it opens nothing there."""
    actor = ctx.actor
    names = {m.user_id: m.name for m in uow.members.all_in(actor.team_id) if m.name}
    if key.project_id is None:
        if name != cal.PERSONAL or not (actor.roles or actor.project_roles):
            return None
        return _personal(uow, ctx, names)
    project = uow.projects.by_id(key.project_id)
    if project is None or name != project.slug or not actor.may_read(project.slug):
        return None
    events, zone = _meetings(uow, ctx, project, names, lambda _: True)
    return Feed(f"{project.slug} review meetings (mlgov)", zone, tuple(events))


def _meetings(
    uow: UnitOfWork,
    ctx: Context,
    project: Project,
    names: dict[str, str],
    wanted: Callable[[str | None], bool],
) -> tuple[list[CalendarEvent], str]:
    """The project's planned meetings of the next weeks (``wanted``: by presenter), and the
    zone they are held in (the project's rotation may meet in another than the team's)."""
    schedule = upcoming(uow, ctx, project, ctx.timezone, cal.FEED_WEEKS)
    events = [
        cal.meeting_event(
            project.slug,
            project.team_id,
            project.id,
            project.channel_id,
            slot,
            schedule.config,
            names,
        )
        for slot in schedule.slots
        if not slot.nobody_in_any_pool and wanted(slot.presenter)
    ]
    return events, schedule.config.timezone


def _personal(uow: UnitOfWork, ctx: Context, names: dict[str, str]) -> Feed:
    """The meetings the owner presents, in every project they are on, and reviews owed."""
    actor = ctx.actor
    projects = [p for p in uow.projects.all_in(actor.team_id) if actor.on_project(p.slug)]
    events: list[CalendarEvent] = []
    zones: set[str] = set()
    for project in projects:
        meetings, held_in = _meetings(uow, ctx, project, names, lambda who: who == actor.user_id)
        events += meetings
        zones |= {held_in} if meetings else set()
    channels = {p.slug: p for p in uow.projects.all_in(actor.team_id)}
    waiting, _ = uow.homes.waiting_on(actor.team_id, actor.user_id, REVIEWS)
    zone = ZoneInfo(ctx.timezone)
    today = ctx.now.astimezone(zone).date()
    for w in waiting:
        home = channels.get(w.experiment.project)
        link = cal.channel_link(actor.team_id, home.channel_id) if home else ""
        events.append(
            cal.review_event(
                actor.team_id,
                actor.user_id,
                w.review_id,
                f"{w.experiment.key} {w.experiment.title} ({w.kind.value} review)",
                w.assigned_at.astimezone(zone).date(),
                today,
                link,
            )
        )
    who = names.get(actor.user_id) or actor.user_id
    # The meetings' zone when they share one; else the team's (each event names its own).
    zone_name = zones.pop() if len(zones) == 1 else ctx.timezone
    return Feed(f"mlgov: {who}'s meetings and reviews", zone_name, tuple(events))

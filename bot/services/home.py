"""The App Home: what waits on one person, built in a handful of queries and published
through the outbox when they open the tab, press a button on it, or their data changes.

Who a change concerns (the ``home`` job republishes their Home):

- the person who made it, the experiment's owner, and everyone ever assigned to review
  the experiment (so a closed or handed-on review leaves their list);
- people the entry names (a member added or removed, a reviewer replaced and the
  successor, the two people of a rotation swap);
- everyone on the project when the change is project-wide: any status change (it moves a
  number on everybody's board), a new experiment, a baseline, rules, members, or the
  rotation's configuration, pool or swaps.

Changes that only time makes (a review's age, the next meeting after one has passed) show
at the next open or the next change.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.lifecycle import IN_FLIGHT
from bot.domain.model import Experiment, Project, Status, Workstream
from bot.domain.review import ReviewKind, working_days_between
from bot.domain.rotation import Slot, at_local
from bot.services import rotation
from bot.services.ports import Context, Notices
from bot.services.team import resolve_actor
from storage.home import Change
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)

# Loaded per Home: more than 100 blocks can show, so the renderer decides what fits and
# the totals say what was left out.
EXPERIMENT_LIMIT = 60
REVIEW_LIMIT = 60
# Each project's next meeting costs a few queries (its pool, history, absences, swaps):
# planned for this many projects, the others named as left out.
ROTATION_LIMIT = 6
# The job looks at changes at least this old, so that one still committing when it looks
# is seen on its next look rather than never.
SETTLE = timedelta(seconds=5)
# After an outage, changes older than this are left to the next open of the tab.
HORIZON = timedelta(days=1)
PROJECT_WIDE = frozenset(
    {
        "created",
        "baseline",
        "rules_changed",
        "member_added",
        "member_removed",
        "project_added",
        "rotation_config",
        "rotation_join",
        "rotation_leave",
        "rotation_swap",
        "rotation_skip",
        "rotation_skip_cancelled",
    }
)
# Detail fields that name people (a member, a reviewer and successor, a swap's two).
NAMED = ("user", "reviewer", "successor", "from", "to")
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


@dataclass(frozen=True)
class ReviewWaiting:
    experiment: Experiment
    review_id: int
    kind: ReviewKind
    waiting_days: int  # working days since the reviewer was asked, in the team's zone
    needs_reviewer: bool = False  # nobody else could take it over; the managers were told


@dataclass(frozen=True)
class Board:
    """A project's experiments by status, and work in progress against its limits."""

    project: Project
    counts: dict[Status, int]
    in_flight: int  # the project's running and analyzing experiments
    mine: dict[Workstream, int]  # the person's own in flight, workspace-wide, per stream


@dataclass(frozen=True)
class NextMeeting:
    project: str
    slot: Slot
    meeting: datetime  # when it starts (aware UTC)
    timezone: str


@dataclass(frozen=True)
class Home:
    """One person's Home: lists as loaded, with their totals for what did not fit."""

    team_id: str
    user_id: str
    built_at: datetime
    timezone: str
    member: bool  # has any role in mlgov
    experiments: tuple[Experiment, ...] = ()
    experiments_total: int = 0
    reviews: tuple[ReviewWaiting, ...] = ()
    reviews_total: int = 0
    boards: tuple[Board, ...] = ()
    meetings: tuple[NextMeeting, ...] = ()
    meetings_total: int = 0


def build_home(
    uow: UnitOfWork, notices: Notices, team_id: str, user_id: str, now: datetime, timezone: str
) -> Home:
    """The Home of ``user_id`` as of ``now`` (membership decides the projects shown;
    MLGOV_ADMINS alone shows none, so a republish by the job matches an open)."""
    actor = resolve_actor(uow, team_id, user_id)
    ctx = Context(actor, now, notices, timezone)
    projects = [p for p in uow.projects.all_in(team_id) if actor.on_project(p.slug)]
    experiments, experiments_total = uow.homes.open_experiments(team_id, user_id, EXPERIMENT_LIMIT)
    waiting, reviews_total = uow.homes.waiting_on(team_id, user_id, REVIEW_LIMIT)
    today = now.astimezone(ZoneInfo(timezone)).date()
    reviews = tuple(
        ReviewWaiting(
            w.experiment,
            w.review_id,
            w.kind,
            working_days_between(w.assigned_at.astimezone(ZoneInfo(timezone)).date(), today),
            w.needs_reviewer,
        )
        for w in waiting
    )
    counts = uow.homes.status_counts(p.id for p in projects)
    mine = uow.homes.in_flight_by_stream(team_id, user_id)
    boards = tuple(
        Board(
            p,
            counts[p.id],
            sum(counts[p.id].get(s, 0) for s in IN_FLIGHT),
            {s: mine.get(s.value, 0) for s in Workstream},
        )
        for p in projects
    )
    # Projects one is on by name come before those a workspace-wide role reaches.
    ordered = sorted(projects, key=lambda p: (p.slug not in actor.project_roles, p.slug))
    meetings = []
    for project in ordered[:ROTATION_LIMIT]:
        plan = rotation.upcoming(uow, ctx, project, timezone, 1)
        slot = plan.slots[0]
        meetings.append(
            NextMeeting(
                project.slug,
                slot,
                at_local(plan.config, slot.week, plan.config.meeting),
                plan.config.timezone,
            )
        )
    return Home(
        team_id,
        user_id,
        now,
        timezone,
        member=bool(actor.roles or actor.project_roles),
        experiments=tuple(experiments),
        experiments_total=experiments_total,
        reviews=reviews,
        reviews_total=reviews_total,
        boards=boards,
        meetings=tuple(meetings),
        meetings_total=len(projects),
    )


def publish_home(
    db: Database,
    notices: Notices,
    now: datetime,
    timezone: str,
    team_id: str,
    user_id: str,
    *,
    seen: bool = False,
) -> Home:
    """Build the Home and queue its ``views.publish``; ``seen``: the person is looking at
    it (opened the tab, pressed a button on it), so later changes keep it fresh."""
    with db.read() as uow:
        home = build_home(uow, notices, team_id, user_id, now, timezone)
    with db.write() as uow:
        if seen:
            uow.homes.opened(team_id, user_id, now)
        for message in notices.home_published(team_id, user_id, home):
            uow.outbox.add(message, now)
        uow.homes.published(team_id, user_id, now - SETTLE)
        uow.commit()
    return home


def show_home(
    db: Database, notices: Notices, now: datetime, timezone: str, team_id: str, user_id: str
) -> Home:
    """The Home as it would be published now, without publishing it (the shell)."""
    with db.read() as uow:
        return build_home(uow, notices, team_id, user_id, now, timezone)


# --- the scheduled job ------------------------------------------------------------------


def refresh_homes(db: Database, notices: Notices, now: datetime, timezone: str) -> list[str]:
    """Republish the Home of everyone who opened it and whom a change concerns, once per
    change; nothing is claimed in the run ledger (a republish is idempotent)."""
    until = now - SETTLE
    with db.read() as uow:
        paused = uow.pauses.paused()  # uninstalled: skipped until reinstalled
        viewers = [v for v in uow.homes.viewers() if v.team_id not in paused]
        if not viewers:
            return []
        since = max(min(v.current_to for v in viewers), until - HORIZON)
        if since >= until:
            return []
        changes = uow.homes.changes({v.team_id for v in viewers}, since, until)
        reviewers = uow.homes.reviewers_of(c.experiment_id for c in changes if c.experiment_id)
        people = uow.homes.people_on(
            c.project_id for c in changes if c.project_id is not None and _project_wide(c)
        )
    latest: dict[tuple[str, str], datetime] = {}
    for change in changes:
        for user in concerned(change, reviewers, people):
            key = (change.team_id, user)
            latest[key] = max(latest.get(key, change.at), change.at)
    due = [v for v in viewers if (v.team_id, v.user_id) in latest]
    due = [v for v in due if latest[(v.team_id, v.user_id)] > v.current_to]
    failed: list[tuple[str, str]] = []
    for viewer in due:
        try:
            publish_home(db, notices, now, timezone, viewer.team_id, viewer.user_id)
        except Exception:  # one Home's failure must not keep the others stale
            log.exception("home: republishing for %s failed; tried again next time", viewer)
            failed.append((viewer.team_id, viewer.user_id))
    with db.write() as uow:
        uow.homes.advance(until, failed)
        uow.commit()
    done = len(due) - len(failed)
    return [f"republished {done} Home tab(s) after changes"] if done else []


def _project_wide(change: Change) -> bool:
    return change.action in PROJECT_WIDE or change.to_status is not None


def concerned(
    change: Change, reviewers: dict[int, set[str]], people: dict[int, set[str]]
) -> set[str]:
    """Whose Home ``change`` changes (see the module's docstring)."""
    users = {change.actor_id}
    if change.owner_id:
        users.add(change.owner_id)
    if change.experiment_id is not None:
        users |= reviewers.get(change.experiment_id, set())
    # An absence's "from" and "to" are dates, not people: only user ids count.
    named = (str(change.detail.get(k) or "") for k in NAMED)
    users |= {v for v in named if USER_ID.match(v)}
    if change.project_id is not None and _project_wide(change):
        users |= people.get(change.project_id, set())
    return users

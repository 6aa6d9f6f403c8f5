"""A sample team for `mlgov shell --demo`, made by typing the same commands people would.

Everything but the first admin goes through the dispatcher as the right person, so the
permission checks run and the audit log tells the story of how the team was set up. The
story spans the last few weeks, with the weekly review announced each Monday by the real
job, so `/rotation stats` has a history and `/rotation show` continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import pandas as pd

from bot.domain.errors import MlgovError
from bot.domain.evaluation import Predictions
from bot.domain.model import Role
from bot.domain.rotation import monday_of
from bot.jobs import JOBS
from bot.runtime import Runtime
from bot.services import evaluations
from bot.services.evaluations import Submission
from bot.services.ports import Context
from bot.services.team import resolve_actor
from bot.shell.demo_models import DemoEvaluations, train_demo_models
from bot.shell.directory import TEAM_ID, user_id_for
from bot.shell.jobs import BACKGROUND_JOBS
from bot.slack.dispatch import Dispatcher, Origin

ADMIN = "ada"
# (name, role, projects; None = workspace-wide)
PEOPLE: tuple[tuple[str, Role, tuple[str, ...] | None], ...] = (
    ("ada", Role.MANAGER, None),
    ("mia", Role.MANAGER, ("churn", "fraud")),
    ("alice", Role.SCIENTIST, ("churn", "fraud")),
    ("bob", Role.SCIENTIST, ("churn", "fraud")),
    ("carol", Role.SCIENTIST, ("churn", "fraud")),
    ("erin", Role.ENGINEER, ("churn", "fraud")),
)
PROJECTS = ("churn", "fraud")
# (day, who, /exp command line) in order; days count from the Monday the team was set up,
# HISTORY_WEEKS before this week. EXP numbers follow from the order of the `new` lines.
STORY: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "alice",
        "new churn Gradient boosting on tenure features --hypothesis Interactions of tenure"
        " with plan changes predict churn better than the logistic baseline --metric auc"
        " --min-delta 0.01",
    ),
    (1, "alice", "start EXP-1"),
    (
        2,
        "bob",
        "new churn Calibrated logistic regression --hypothesis Isotonic calibration lowers log"
        " loss without hurting AUC --metric log_loss --min-delta 0.005",
    ),
    (3, "bob", "start EXP-2"),
    (
        4,
        "carol",
        "new churn Survival model for churn timing --hypothesis Predicting when, not just"
        " whether, lets retention offers go out in time --metric auc --min-delta 0.01",
    ),
    (
        8,
        "alice",
        "new fraud Graph features from shared devices --hypothesis Accounts sharing devices"
        " with known fraud are riskier --metric ap --min-delta 0.02 --stream side",
    ),
    (8, "alice", "start EXP-4"),
    (
        10,
        "bob",
        "new fraud Rule-based velocity checks --hypothesis Simple velocity rules catch card"
        " testing",
    ),
    (
        11,
        "alice",
        "conclude EXP-1 success +0.021 AUC on the March holdout; tenure × plan-change"
        " interactions carry most of the gain",
    ),
    (15, "bob", "abandon EXP-5 Superseded by the device-graph work in EXP-4"),
    (
        16,
        "carol",
        "new fraud Isolation forest for new merchants --hypothesis Anomaly scores flag fraud"
        " among merchants with no history --metric ap --min-delta 0.01",
    ),
    (16, "carol", "start EXP-6"),
    (22, "carol", "analyze EXP-6"),
    (
        25,
        "carol",
        "conclude EXP-6 failure No lift over the rules baseline; the anomalies were seasonal"
        " sellers, not fraud",
    ),
)
HISTORY_WEEKS = 5
DEMO_HOLDOUT = "demo-holdout.csv"
# After that Monday's meeting, so the first review anyone announced is the next week's.
SETUP_TIME = time(10, 30)
STORY_TIME = time(11, 0)
ANNOUNCE_TIME = time(9, 0)  # the default; churn's config says so again, as a manager would
# Bob was away the week of the last science review (he said so on day 18), so the history
# shows a skip; alice will be away in three weeks, so the plan ahead shows one too.
BOB_AWAY = (18, 7 * (HISTORY_WEEKS - 1), 7 * (HISTORY_WEEKS - 1) + 4)
ALICE_AWAY_WEEK = 3


@dataclass(frozen=True)
class Seeded:
    people: int
    projects: int
    experiments: int
    weeks: int
    reviews: int  # review meetings announced in the past weeks, over all projects
    holdout: Path | None = None  # the file written for the user to try `:upload` with


class SeedFailed(MlgovError):
    """A demo command was refused: a bug in the demo script, never the user's fault."""


def has_projects(runtime: Runtime) -> bool:
    with runtime.db.read() as uow:
        return bool(uow.projects.all_in(TEAM_ID))


class _Story:
    """Tells the demo's past in a few seconds: commands and jobs, each at its own time.

    Everything runs through a dispatcher whose clock reads the story's time, so the audit
    log, the experiments' ages and the rotation's history read as weeks of real work.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.zone = runtime.settings.zone
        self.today = runtime.clock()
        local_today = self.today.astimezone(self.zone).date()
        self.first_monday = monday_of(local_today) - timedelta(weeks=HISTORY_WEEKS)
        self.now = self.today
        self.dispatcher = Dispatcher(
            runtime.db,
            lambda: self.now,
            runtime.dispatcher.notices,
            runtime.settings.admins,
            runtime.settings.timezone,
        )

    def day(self, number: int) -> date:
        return self.first_monday + timedelta(days=number)

    def moment(self, day: int, clock: time) -> datetime:
        return datetime.combine(self.day(day), clock, tzinfo=self.zone).astimezone(UTC)

    def run(self, who: str, command: str, text: str) -> None:
        reply = self.dispatcher.command(Origin(TEAM_ID, user_id_for(who)), command, text)
        if reply.failed:
            raise SeedFailed(f"demo step `{command} {text}` as {who} failed: {reply.text}")

    def evaluate(self, who: str, number: int, predictions: Predictions, filename: str) -> None:
        with self.runtime.db.read() as uow:
            actor = resolve_actor(uow, TEAM_ID, user_id_for(who), self.runtime.settings.admins)
        notices = self.runtime.dispatcher.notices
        ctx = Context(actor, self.now, notices, self.runtime.settings.timezone)
        submission = Submission(number, predictions, "demo", filename)
        evaluations.submit_evaluation(self.runtime.db, ctx, submission)

    def job(self, name: str) -> list[str]:
        runtime = self.runtime
        env = replace(runtime.job_env(), deliver=None)
        return JOBS[name].run(env, self.now)


def seed(runtime: Runtime, deliver: Callable[[], object]) -> Seeded | None:
    """Seed the sample team and its last weeks unless the workspace has projects.

    Returns None when it did nothing; ``deliver`` sends what the story posted, at the end.
    """
    if has_projects(runtime):
        return None
    story = _Story(runtime)
    story.now = story.moment(0, SETUP_TIME)
    _set_up_team(runtime, story)
    announced: list[str] = []
    models = train_demo_models()
    for at, _, step in sorted(_timeline(story, models, announced), key=lambda s: s[:2]):
        story.now = at
        step()
    # Today: alice books time off, and the jobs catch up, as they had all along.
    story.now = story.today
    monday = monday_of(story.today.astimezone(story.zone).date()) + timedelta(weeks=ALICE_AWAY_WEEK)
    story.run("alice", "/rotation", f"ooo {monday} {monday + timedelta(days=4)}")
    for name in BACKGROUND_JOBS:
        story.job(name)
    deliver()  # all at once: each channel's messages still go out in order
    experiments = sum(line.startswith("new ") for _, _, line in STORY)
    holdout = _write_tryout(models.tryout, _folder_of(runtime))
    return Seeded(len(PEOPLE), len(PROJECTS), experiments, HISTORY_WEEKS, len(announced), holdout)


def _folder_of(runtime: Runtime) -> Path:
    """Beside the SQLite database file (``./mlgov.db`` by default), else the working folder."""
    url = runtime.db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database or "").resolve().parent
    return Path.cwd()


def _write_tryout(predictions: Predictions | None, folder: Path) -> Path | None:
    """Leave a third model's predictions on churn's held-out rows for the user to upload.

    Written beside the database unless a file of that name is there already: with the
    default ``./mlgov.db`` the README's ``:upload EXP-3 demo-holdout.csv`` works as written.
    """
    path = folder / DEMO_HOLDOUT
    if predictions is None or path.exists():
        return None
    columns = {"id": predictions.ids, "y_true": predictions.y_true.astype(int)}
    try:
        pd.DataFrame({**columns, "y_score": predictions.score.round(6)}).to_csv(path, index=False)
    except OSError:
        return None  # a read-only folder: the demo works without the file
    return path.resolve()


def _timeline(
    story: _Story, models: DemoEvaluations, announced: list[str]
) -> list[tuple[datetime, int, Callable[[], object]]]:
    """(time, order, step): the story's commands and the Monday announcements."""
    steps: list[tuple[datetime, int, Callable[[], object]]] = []
    for order, (day, who, line) in enumerate(STORY):
        at = story.moment(day, STORY_TIME) + timedelta(minutes=order)
        steps.append((at, len(steps), partial(story.run, who, "/exp", line)))
    # Real evaluations (models trained now on a dataset that ships with scikit-learn): bob's
    # logistic regression becomes churn's baseline, then alice's boosting is compared with it.
    for day, who, number, predictions, filename in (
        (9, "bob", 2, models.baseline, "logistic-holdout.csv"),
        (10, "alice", 1, models.candidate, "boosting-holdout.csv"),
    ):
        at = story.moment(day, STORY_TIME)
        steps.append((at, len(steps), partial(story.evaluate, who, number, predictions, filename)))
        if number == 2:
            baseline = partial(story.run, "mia", "/exp", "baseline churn EXP-2")
            steps.append((at + timedelta(minutes=5), len(steps), baseline))
    said_on, first, last = BOB_AWAY
    away = f"ooo {story.day(first)} {story.day(last)}"
    at = story.moment(said_on, STORY_TIME)
    steps.append((at, len(steps), partial(story.run, "bob", "/rotation", away)))
    for week in range(1, HISTORY_WEEKS):
        at = story.moment(7 * week, ANNOUNCE_TIME)
        steps.append((at, len(steps), lambda: announced.extend(story.job("rotation"))))
    return steps


def _set_up_team(runtime: Runtime, story: _Story) -> None:
    bootstrap_admin(runtime, user_id_for(ADMIN), ADMIN, story.now)
    # Workspace-wide roles first: a workspace manager who adds a project manages it
    # already, so no project role is granted on top (an admin alone would get one).
    for name, role, projects in PEOPLE:
        if projects is None:
            story.run(ADMIN, "/mlgov", f"member add <@{user_id_for(name)}|{name}> {role.value}")
    for slug in PROJECTS:
        story.run(ADMIN, "/mlgov", f"project add {slug} <#C{slug.upper()}|{slug}>")
    for name, role, projects in PEOPLE:
        for project in projects or ():
            mention = f"<@{user_id_for(name)}|{name}>"
            story.run(ADMIN, "/mlgov", f"member add {mention} {role.value} {project}")
    _store_names(runtime, story.now)
    timezone = runtime.settings.timezone
    story.run(
        "mia",
        "/rotation",
        f"config churn weekday=mon time=10:00 announce={ANNOUNCE_TIME:%H:%M} timezone={timezone}",
    )


def bootstrap_admin(runtime: Runtime, user_id: str, name: str, now: datetime | None = None) -> None:
    """Make ``user_id`` an admin directly: the one write that skips the dispatcher.

    In Slack the first admins come from the workspace (its admins, or MLGOV_ADMINS). In
    the shell the local operator owns the workspace, and someone must be admin before
    anyone can add projects or members; the grant is audited like any other.
    """
    now = now or runtime.clock()
    with runtime.db.write() as uow:
        uow.workspaces.ensure(TEAM_ID, now, name="local shell")
        if uow.members.add_role(TEAM_ID, user_id, Role.ADMIN, None, now, name=name):
            uow.audit.record(
                TEAM_ID,
                user_id,
                "member_added",
                now,
                detail={"user": user_id, "role": "admin", "project": None, "via": "shell"},
            )
        uow.commit()


def _store_names(runtime: Runtime, now: datetime) -> None:
    """Give the seeded people their display names (`/mlgov member add` does not take one).

    Re-granting a role someone already holds changes nothing but the stored name.
    """
    with runtime.db.write() as uow:
        for name, role, projects in PEOPLE:
            project = uow.projects.require(TEAM_ID, projects[0]) if projects else None
            uow.members.add_role(
                TEAM_ID, user_id_for(name), role, project.id if project else None, now, name=name
            )
        uow.commit()

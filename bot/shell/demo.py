"""A sample team for `mlgov shell --demo`, made by typing the same commands people would.

Everything but the first admin goes through the dispatcher as the right person, so the
permission checks run and the audit log tells the story of how the team was set up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.errors import MlgovError
from bot.domain.model import Role
from bot.runtime import Runtime
from bot.shell.directory import TEAM_ID, user_id_for
from bot.slack.dispatch import Origin

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
# (who, command line) in order; EXP numbers follow from the order of the `new` lines.
STORY: tuple[tuple[str, str], ...] = (
    (
        "alice",
        "new churn Gradient boosting on tenure features --hypothesis Interactions of tenure"
        " with plan changes predict churn better than the logistic baseline --metric auc"
        " --min-delta 0.01",
    ),
    ("alice", "start EXP-1"),
    (
        "alice",
        "conclude EXP-1 success +0.021 AUC on the March holdout; tenure × plan-change"
        " interactions carry most of the gain",
    ),
    (
        "bob",
        "new churn Calibrated logistic regression --hypothesis Isotonic calibration lowers log"
        " loss without hurting AUC --metric log_loss --min-delta 0.005",
    ),
    ("bob", "start EXP-2"),
    (
        "carol",
        "new churn Survival model for churn timing --hypothesis Predicting when, not just"
        " whether, lets retention offers go out in time",
    ),
    (
        "alice",
        "new fraud Graph features from shared devices --hypothesis Accounts sharing devices"
        " with known fraud are riskier --metric ap --min-delta 0.02 --stream side",
    ),
    ("alice", "start EXP-4"),
    (
        "bob",
        "new fraud Rule-based velocity checks --hypothesis Simple velocity rules catch card"
        " testing",
    ),
    ("bob", "abandon EXP-5 Superseded by the device-graph work in EXP-4"),
    (
        "carol",
        "new fraud Isolation forest for new merchants --hypothesis Anomaly scores flag fraud"
        " among merchants with no history --metric ap --min-delta 0.01",
    ),
    ("carol", "start EXP-6"),
    ("carol", "analyze EXP-6"),
    (
        "carol",
        "conclude EXP-6 failure No lift over the rules baseline; the anomalies were seasonal"
        " sellers, not fraud",
    ),
)


@dataclass(frozen=True)
class Seeded:
    people: int
    projects: int
    experiments: int


class SeedFailed(MlgovError):
    """A demo command was refused: a bug in the demo script, never the user's fault."""


def has_projects(runtime: Runtime) -> bool:
    with runtime.db.read() as uow:
        return bool(uow.projects.all_in(TEAM_ID))


def seed(runtime: Runtime, deliver: Callable[[], object]) -> Seeded | None:
    """Seed the sample team unless the workspace has projects; None when it did nothing."""
    if has_projects(runtime):
        return None
    bootstrap_admin(runtime, user_id_for(ADMIN), ADMIN)

    def run(who: str, command: str, text: str) -> None:
        reply = runtime.dispatcher.command(Origin(TEAM_ID, user_id_for(who)), command, text)
        if reply.failed:
            raise SeedFailed(f"demo step `{command} {text}` as {who} failed: {reply.text}")
        deliver()

    for slug in PROJECTS:
        run(ADMIN, "/mlgov", f"project add {slug} <#C{slug.upper()}|{slug}>")
    for name, role, projects in PEOPLE:
        mention = f"<@{user_id_for(name)}|{name}>"
        for project in projects or ("",):
            run(ADMIN, "/mlgov", f"member add {mention} {role.value} {project}".strip())
    _store_names(runtime)
    experiments = 0
    for who, line in STORY:
        run(who, "/exp", line)
        experiments += line.startswith("new ")
    return Seeded(len(PEOPLE), len(PROJECTS), experiments)


def bootstrap_admin(runtime: Runtime, user_id: str, name: str) -> None:
    """Make ``user_id`` an admin directly: the one write that skips the dispatcher.

    In Slack the first admins come from the workspace (its admins, or MLGOV_ADMINS). In
    the shell the local operator owns the workspace, and someone must be admin before
    anyone can add projects or members; the grant is audited like any other.
    """
    now = runtime.clock()
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


def _store_names(runtime: Runtime) -> None:
    """Give the seeded people their display names (`/mlgov member add` does not take one).

    Re-granting a role someone already holds changes nothing but the stored name.
    """
    now = runtime.clock()
    with runtime.db.write() as uow:
        for name, role, projects in PEOPLE:
            project = uow.projects.require(TEAM_ID, projects[0]) if projects else None
            uow.members.add_role(
                TEAM_ID, user_id_for(name), role, project.id if project else None, now, name=name
            )
        uow.commit()

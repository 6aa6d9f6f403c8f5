"""Use cases over a real database: permissions, WIP limits, the outbox in the same transaction."""

from __future__ import annotations

import pytest

from bot.domain.commands import NewExperiment
from bot.domain.errors import (
    AlreadyExists,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
    WipLimitExceeded,
)
from bot.domain.model import ProjectRules, Role, Status, Workstream
from bot.services import team as team_service
from bot.services.experiments import create_experiment, experiment_history, take_step
from tests.integration.conftest import TEAM, Team


def _snapshot(team: Team) -> tuple[int, int, list[str]]:
    """What a refused request must leave alone: audit, outbox and the projects."""
    projects = team.read(lambda uow: [p.slug for p in uow.projects.all_in(TEAM)])
    return team.audit_count(), len(team.outbox_rows()), projects


def _propose(team: Team, who: str = "alice", stream: Workstream = Workstream.MAIN) -> int:
    cmd = NewExperiment("churn", f"Idea of {who}", "It helps", metric="auc", stream=stream)
    return team.run(who, create_experiment, cmd).number


def _trail(team: Team, number: int) -> list[tuple[str, str, str | None, dict[str, object]]]:
    _, entries = team.run("admin", experiment_history, number)
    return [(e.action, e.actor_id, e.to_status, e.detail) for e in entries]


# --- projects, members, rules -------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "manager", "erin", "zoe"])
def test_only_admins_and_workspace_managers_add_projects(team: Team, who: str) -> None:
    before = _snapshot(team)
    with pytest.raises(PermissionDenied, match="Only an admin or a workspace manager"):
        team.run(who, team_service.add_project, "fraud", "C-FRAUD")
    assert _snapshot(team) == before


@pytest.mark.parametrize("who", ["admin", "boss"])
def test_an_admin_or_workspace_manager_adds_a_project_announced_with_it(
    team: Team, who: str
) -> None:
    audit, outbox, _ = _snapshot(team)
    project = team.run(who, team_service.add_project, "fraud", "C-FRAUD")
    assert (project.slug, project.channel_id, project.rules) == ("fraud", "C-FRAUD", ProjectRules())
    # The admin becomes the project's manager (audited); a workspace manager is one already.
    granted = 1 if who == "admin" else 0
    assert _snapshot(team) == (audit + 1 + granted, outbox + 1, ["churn", "fraud"])
    assert team.outbox_rows()[-1].channel == "C-FRAUD"
    assert team.notices.calls == [("project_added", "fraud")]


def test_adding_an_existing_project_is_refused_and_announces_nothing(team: Team) -> None:
    before = _snapshot(team)
    with pytest.raises(AlreadyExists, match="Project 'churn' exists already"):
        team.run("admin", team_service.add_project, "churn", "C-OTHER")
    assert _snapshot(team) == before
    assert team.read(lambda uow: uow.projects.require(TEAM, "churn").channel_id) == "C-CHURN"


def test_granting_a_role_twice_is_reported_and_audited_once(team: Team) -> None:
    audit = team.audit_count()
    assert team.run("manager", team_service.add_member, "UNEW", Role.SCIENTIST, "churn")
    assert not team.run("manager", team_service.add_member, "UNEW", Role.SCIENTIST, "churn")
    assert team.audit_count() == audit + 1


def test_who_may_grant_and_remove_roles(team: Team) -> None:
    team.run("admin", team_service.add_project, "fraud", "C-FRAUD")
    # A project manager manages that project's people only, and never makes admins.
    assert team.run("manager", team_service.add_member, "UNEW", Role.ENGINEER, "churn")
    with pytest.raises(PermissionDenied, match="manager of project fraud"):
        team.run("manager", team_service.add_member, "UNEW", Role.ENGINEER, "fraud")
    with pytest.raises(PermissionDenied, match="Only an admin can make admins"):
        team.run("boss", team_service.add_member, "UNEW", Role.ADMIN, None)
    with pytest.raises(PermissionDenied):
        team.run("alice", team_service.add_member, "UNEW", Role.MANAGER, "churn")
    with pytest.raises(PermissionDenied, match="Only an admin can remove an admin"):
        team.run("boss", team_service.remove_member, "UADMIN", Role.ADMIN, None)
    with pytest.raises(NotFound, match="no such role"):
        team.run("manager", team_service.remove_member, "UNEW", Role.SCIENTIST, "churn")
    with pytest.raises(NotFound, match="No project 'nope'"):
        team.run("admin", team_service.add_member, "UNEW", Role.ENGINEER, "nope")

    assert team.run("manager", team_service.remove_member, "UNEW", None, "churn") == 1
    member = team.read(lambda uow: uow.members.get(TEAM, "UNEW"))
    assert member is not None and member.project_roles == {}


@pytest.mark.parametrize("who", ["alice", "erin", "zoe"])
def test_people_who_are_not_managers_cannot_change_rules(team: Team, who: str) -> None:
    before = _snapshot(team)
    with pytest.raises(PermissionDenied, match="Only an admin or a manager of churn"):
        team.run(who, team_service.set_rules, "churn", {"wip_main": "3"})
    assert _snapshot(team) == before
    assert team.read(lambda uow: uow.projects.require(TEAM, "churn").rules) == ProjectRules()


@pytest.mark.parametrize("who", ["admin", "boss", "manager"])
def test_admins_and_managers_change_rules_with_an_audit_entry(team: Team, who: str) -> None:
    audit = team.audit_count()
    # churn has two scientists: a quorum of 1 is one it can reach (see test_review_no_dead_ends).
    rules = team.run(who, team_service.set_rules, "churn", {"wip_main": "2", "quorum": "1"})
    assert rules == ProjectRules(wip_main=2, quorum=1)
    assert team.read(lambda uow: uow.projects.require(TEAM, "churn").rules) == rules
    assert team.audit_count() == audit + 1


def test_bad_rules_change_nothing_and_every_problem_is_named(team: Team) -> None:
    before = _snapshot(team)
    with pytest.raises(ValidationError) as refused:
        team.run(
            "manager",
            team_service.set_rules,
            "churn",
            {"wip_main": "2", "quorum": "0", "wip_side": "lots", "colour": "red"},
        )
    message = str(refused.value)
    assert "quorum must be from 1 to 10" in message
    assert "wip_side must be a whole number" in message
    assert "unknown rule 'colour'" in message
    assert _snapshot(team) == before
    assert team.read(lambda uow: uow.projects.require(TEAM, "churn").rules) == ProjectRules()


# --- moving experiments -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "erin"])
def test_only_the_owner_or_a_manager_moves_an_experiment(team: Team, who: str) -> None:
    number = _propose(team)
    with pytest.raises(PermissionDenied, match=r"Only the owner or manager can start EXP-1"):
        team.run(who, take_step, number, "start")
    assert team.experiment(number).status is Status.PROPOSED
    assert [a for a, *_ in _trail(team, number)] == ["created"]


def test_owner_and_managers_move_it_through_the_lifecycle(team: Team) -> None:
    number = _propose(team)
    assert team.run("alice", take_step, number, "start").after.status is Status.RUNNING
    assert team.run("manager", take_step, number, "analyze").after.status is Status.ANALYZING
    moved = team.run("boss", take_step, number, "abandon", text="superseded")
    assert moved.after.status is Status.ABANDONED and moved.after.version == 4
    trail = _trail(team, number)
    assert trail[0][:3] == ("created", "UALICE", "proposed")
    assert trail[1:] == [
        ("start", "UALICE", "running", {}),
        ("analyze", "UMGR", "analyzing", {}),
        ("abandon", "UBOSS", "abandoned", {"reason": "superseded"}),
    ]
    with pytest.raises(InvalidTransition, match="EXP-1 is abandoned; it cannot start"):
        team.run("alice", take_step, number, "start")


def test_someone_on_no_project_cannot_propose_there(team: Team) -> None:
    before = _snapshot(team)
    with pytest.raises(PermissionDenied, match="not on project churn"):
        _propose(team, "zoe")
    assert _snapshot(team) == before


# --- WIP limits ---------------------------------------------------------------------------


def test_starting_past_the_wip_limit_is_refused_listing_what_is_in_flight(team: Team) -> None:
    running = _propose(team)
    team.run("alice", take_step, running, "start")
    waiting = _propose(team)
    before = (team.experiment(waiting), _trail(team, waiting), _snapshot(team))

    for who, force in (("alice", False), ("manager", False)):
        with pytest.raises(WipLimitExceeded) as refused:
            team.run(who, take_step, waiting, "start", force=force)
        assert "already has 1 main-stream experiment(s) in flight (limit 1)" in str(refused.value)
        assert len(refused.value.in_flight) == 1
        assert refused.value.in_flight[0].startswith("EXP-1 Idea of alice (running")
        assert "--force" in str(refused.value)

    assert (team.experiment(waiting), _trail(team, waiting), _snapshot(team)) == before


def test_only_a_manager_may_force_past_the_limit_and_it_is_logged(team: Team) -> None:
    team.run("alice", take_step, _propose(team), "start")
    waiting = _propose(team)
    with pytest.raises(PermissionDenied, match="Only a manager can pass --force"):
        team.run("alice", take_step, waiting, "start", force=True)
    assert team.experiment(waiting).version == 1

    moved = team.run("manager", take_step, waiting, "start", force=True)

    assert moved.forced and moved.after.status is Status.RUNNING
    assert _trail(team, waiting)[-1] == (
        "start",
        "UMGR",
        "running",
        {"forced_past_wip_limit": True},
    )
    with pytest.raises(PermissionDenied, match="--force only applies to start"):
        team.run("manager", take_step, waiting, "analyze", force=True)


def test_force_within_the_limit_is_not_logged_as_forced(team: Team) -> None:
    number = _propose(team)
    moved = team.run("manager", take_step, number, "start", force=True)
    assert not moved.forced
    assert _trail(team, number)[-1][3] == {}


def test_the_side_stream_has_its_own_limit(team: Team) -> None:
    team.run("alice", take_step, _propose(team), "start")
    for _ in range(3):
        side = _propose(team, stream=Workstream.SIDE)
        assert team.run("alice", take_step, side, "start").after.status is Status.RUNNING
    fourth = _propose(team, stream=Workstream.SIDE)
    with pytest.raises(WipLimitExceeded, match="3 side-stream experiment"):
        team.run("alice", take_step, fourth, "start")


def test_a_project_wide_limit_counts_everyone(team: Team) -> None:
    team.run("manager", team_service.set_rules, "churn", {"wip_project": "1"})
    team.run("alice", take_step, _propose(team), "start")
    bobs = _propose(team, "bob")
    with pytest.raises(WipLimitExceeded, match="Project churn already has 1") as refused:
        team.run("bob", take_step, bobs, "start")
    assert refused.value.in_flight[0].startswith("EXP-1 ")
    assert team.experiment(bobs).status is Status.PROPOSED


# --- the outbox commits with the change ---------------------------------------------------


def test_a_change_and_its_slack_messages_commit_together(team: Team) -> None:
    woken: list[int] = []
    team.db.on_outbox(lambda: woken.append(1))
    audit, outbox, _ = _snapshot(team)

    number = _propose(team)

    assert team.audit_count() == audit + 1
    rows = team.outbox_rows()
    assert len(rows) == outbox + 1
    root = rows[-1]
    assert (root.channel, root.thread_root, root.payload["text"]) == (
        "C-CHURN",
        True,
        "EXP-1 proposed",
    )
    assert root.experiment_id == team.experiment(number).id
    assert woken == [1]


def test_a_rolled_back_change_leaves_neither_the_change_nor_its_messages(team: Team) -> None:
    woken: list[int] = []
    team.db.on_outbox(lambda: woken.append(1))
    before = _snapshot(team)

    with pytest.raises(RuntimeError, match="crash after the use case"), team.db.write() as uow:
        created = create_experiment(uow, team.ctx("alice"), NewExperiment("churn", "Lost"))
        assert created.number == 1 and uow.outbox.added == 1
        raise RuntimeError("crash after the use case")

    assert _snapshot(team) == before
    assert team.read(lambda uow: uow.experiments.find(TEAM)) == []
    assert woken == []
    assert _propose(team) == 1  # the number was not used up


def test_a_step_left_uncommitted_changes_nothing(team: Team) -> None:
    number = _propose(team)
    before = (team.experiment(number), _snapshot(team))
    with team.db.write() as uow:
        take_step(uow, team.ctx("alice"), number, "start")
    assert (team.experiment(number), _snapshot(team)) == before

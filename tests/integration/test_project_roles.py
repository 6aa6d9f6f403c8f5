"""Who holds which role on a project (SPEC §2): the admin who creates a project manages it,
/mlgov project show says who is who, and no project with unfinished work loses its last
manager."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.domain.commands import NewExperiment, ShowProject
from bot.domain.errors import NotFound, ValidationError
from bot.domain.model import Actor, Outcome, Role
from bot.domain.review import ReviewKind
from bot.services import reviews
from bot.services import team as team_service
from bot.services.experiments import create_experiment, take_step
from bot.slack.handlers.team import show_project
from storage.models import AuditRow
from tests.integration.conftest import TEAM, Team


def actor(team: Team, user_id: str) -> Actor:
    """``user_id`` with the roles they hold now."""
    return team.read(lambda uow: team_service.resolve_actor(uow, TEAM, user_id))


def roles(team: Team, user_id: str, project: str) -> bool:
    return actor(team, user_id).has(Role.MANAGER, project)


def test_the_admin_who_creates_a_project_manages_it_audited(team: Team) -> None:
    team.run("admin", team_service.add_project, "fraud", "C-FRAUD")
    assert roles(team, "UADMIN", "fraud")
    with team.db.read() as uow:
        last = uow.session.scalars(select(AuditRow).order_by(AuditRow.id.desc())).first()
        assert last is not None and last.action == "member_added"
        assert last.detail == {
            "user": "UADMIN",
            "role": "manager",
            "project": "fraud",
            "why": "created the project",
        }


def test_a_fresh_project_s_admin_can_finish_a_flow(team: Team) -> None:
    """Created by the admin, staffed with scientists only: the admin schedules and ships."""
    team.run("admin", team_service.remove_member, "UBOSS", Role.MANAGER, None)
    team.run("admin", team_service.add_project, "fraud", "C-FRAUD")
    for user in ("UALICE", "UBOB", "UCARL"):
        team.run("admin", team_service.add_member, user, Role.SCIENTIST, "fraud")
    alice = actor(team, "UALICE")
    proposal = NewExperiment("fraud", "Devices", "Shared devices flag fraud", "ap")
    number = team.run(alice, create_experiment, proposal).number
    team.run(alice, take_step, number, "start")
    team.run(alice, take_step, number, "conclude", outcome=Outcome.SUCCESS, text="It works")
    experiment = team.experiment(number)
    review = team.read(lambda uow: uow.reviews.latest(experiment.id, ReviewKind.RESULTS))
    if review is None or not review.open:  # before conclude asked reviewers itself
        team.run(alice, reviews.request_review, number, None, ["UBOB", "UCARL"])
    for user in ("UBOB", "UCARL"):
        team.run(actor(team, user), reviews.decide, number, True, "")
    admin = actor(team, "UADMIN")  # as the next command would resolve them
    assert team.run(admin, reviews.schedule_engineering, number, "").after.status.value == (
        "scheduled"
    )
    assert team.run(admin, reviews.ship, number).after.status.value == "shipped"


def test_a_workspace_manager_who_creates_a_project_gets_no_second_grant(team: Team) -> None:
    before = team.audit_count()
    team.run("boss", team_service.add_project, "fraud", "C-FRAUD")
    assert team.audit_count() == before + 1  # project_added only
    member = team.read(lambda uow: uow.members.get(TEAM, "UBOSS"))
    assert member is not None and "fraud" not in member.project_roles


def test_project_show_says_who_holds_which_role_and_the_rules(team: Team) -> None:
    with team.db.read() as uow:
        reply = show_project(uow, team.ctx("zoe"), ShowProject("churn"))
    text = reply.text
    assert "*Managers:* <@UADMIN>, <@UBOSS> (workspace-wide), <@UMGR>" in text  # joining order
    assert "*Scientists:* <@UALICE>, <@UBOB>" in text
    assert "*Engineers:* <@UERIN>" in text
    assert "*Admins:* <@UADMIN> (workspace-wide)" in text
    everything = str(reply.blocks)
    assert "engineers and managers schedule and ship" in everything
    assert "`quorum=2`" in everything


def test_project_show_of_an_unknown_project_is_not_found(team: Team) -> None:
    with team.db.read() as uow, pytest.raises(NotFound):
        show_project(uow, team.ctx("alice"), ShowProject("nope"))


# --- the last manager -----------------------------------------------------------------


def unfinished(team: Team) -> int:
    proposal = NewExperiment("churn", "Tenure", "Tenure lifts AUC", "auc")
    return team.run("alice", create_experiment, proposal).number


def only_umgr_manages_churn(team: Team) -> None:
    team.run("admin", team_service.remove_member, "UBOSS", Role.MANAGER, None)
    team.run("admin", team_service.remove_member, "UADMIN", Role.MANAGER, "churn")


@pytest.mark.parametrize(
    ("role", "project"), [(Role.MANAGER, "churn"), (None, "churn"), (None, None)]
)
def test_the_last_manager_of_a_project_with_unfinished_work_stays(
    team: Team, role: Role | None, project: str | None
) -> None:
    only_umgr_manages_churn(team)
    unfinished(team)
    before = team.audit_count()
    with pytest.raises(ValidationError) as refused:
        team.run("admin", team_service.remove_member, "UMGR", role, project)
    assert str(refused.value) == (
        "<@UMGR> is the last manager of churn, which has 1 unfinished experiment(s) (EXP-1);"
        " without a manager nobody could assign their reviewers, schedule or ship them. Add"
        " another manager first: `/mlgov member add @someone manager churn`."
    )
    assert team.audit_count() == before
    assert roles(team, "UMGR", "churn")


def test_the_last_manager_may_go_once_another_is_added_or_the_work_is_done(
    team: Team,
) -> None:
    only_umgr_manages_churn(team)
    number = unfinished(team)
    team.run("alice", take_step, number, "abandon", text="superseded")
    assert team.run("admin", team_service.remove_member, "UMGR", Role.MANAGER, "churn") == 1
    team.run("admin", team_service.add_member, "UMGR", Role.MANAGER, "churn")
    unfinished(team)
    team.run("admin", team_service.add_member, "UALICE", Role.MANAGER, "churn")
    assert team.run("admin", team_service.remove_member, "UMGR", Role.MANAGER, "churn") == 1


def test_removing_other_roles_of_the_last_manager_is_fine(team: Team) -> None:
    only_umgr_manages_churn(team)
    unfinished(team)
    team.run("admin", team_service.add_member, "UMGR", Role.SCIENTIST, "churn")
    assert team.run("admin", team_service.remove_member, "UMGR", Role.SCIENTIST, "churn") == 1

"""Next steps (SPEC §2, no dead ends): from every non-final status some current member may
move an experiment forward, and /exp show names the step and the people."""

from __future__ import annotations

import pytest

from bot.domain.commands import EditExperiment, NewExperiment, SetRules, ShowExperiment
from bot.domain.model import Actor, Outcome, Role
from bot.domain.review import ReviewKind
from bot.services import reviews
from bot.services import team as team_service
from bot.services.experiments import create_experiment, edit_experiment, take_step
from bot.services.next_steps import NextStep, next_steps
from bot.slack.handlers.experiments import show
from bot.slack.handlers.team import rules
from tests.integration.conftest import Team

# Seeded churn: the admin created it (so manages it), UMGR manages it, UBOSS manages
# every project; UALICE and UBOB are scientists, UERIN the engineer.
SCIENCE = ("UADMIN", "UALICE", "UBOSS", "UMGR")  # the owner (alice) or a manager
ENGINEERING = ("UADMIN", "UBOSS", "UERIN", "UMGR")
MANAGERS = ("UADMIN", "UBOSS", "UMGR")


def steps(team: Team, number: int) -> list[NextStep]:
    return team.read(lambda uow: next_steps(uow, uow.experiments.require("T0001", number)))


def shown(team: Team, number: int) -> str:
    with team.db.read() as uow:
        return show(uow, team.ctx("bob"), ShowExperiment(number)).text


def hire(team: Team, *names: str) -> None:
    for name in names:
        team.run("admin", team_service.add_member, f"U{name.upper()}", Role.SCIENTIST, "churn")


def propose(team: Team, hypothesis: str = "Tenure lifts AUC") -> int:
    proposal = NewExperiment("churn", "Tenure", hypothesis, "auc" if hypothesis else None)
    return team.run("alice", create_experiment, proposal).number


def concluded(team: Team) -> int:
    """alice's experiment in review, with reviewers asked (by conclude, or by request)."""
    number = propose(team)
    team.run("alice", take_step, number, "start")
    team.run("alice", take_step, number, "conclude", outcome=Outcome.SUCCESS, text="It lifts")
    experiment = team.experiment(number)
    review = team.read(lambda uow: uow.reviews.latest(experiment.id, ReviewKind.RESULTS))
    if review is None or not review.open:  # before conclude asked reviewers itself
        team.run("alice", reviews.request_review, number, None, [])
    return number


def actor(team: Team, user_id: str) -> Actor:
    """The actor of ``user_id`` as the services resolve it now."""
    return team.read(lambda uow: team_service.resolve_actor(uow, "T0001", user_id))


def test_a_draft_s_next_step_is_edit_by_the_owner_or_a_manager(team: Team) -> None:
    number = propose(team, hypothesis="")
    assert steps(team, number) == [
        NextStep("edit", SCIENCE, "write a hypothesis and a success criterion first")
    ]
    assert "Next steps: edit — <@UADMIN>, <@UALICE>, <@UBOSS> or <@UMGR>" in shown(team, number)


def test_a_written_proposal_starts_by_the_owner_or_a_manager(team: Team) -> None:
    number = propose(team, hypothesis="")
    team.run("alice", edit_experiment, EditExperiment(number, hypothesis="h", metric="auc"))
    assert steps(team, number) == [NextStep("start", SCIENCE)]
    assert "start — <@UADMIN>, <@UALICE>, <@UBOSS> or <@UMGR>" in shown(team, number)


def test_under_a_required_design_review_the_step_is_to_ask_for_it(team: Team) -> None:
    with team.db.write() as uow:
        rules(uow, team.ctx("manager"), SetRules("churn", {"design_review": "required"}))
        uow.commit()
    number = propose(team)
    assert [s.step for s in steps(team, number)] == ["request a design review"]
    hire(team, "carl")
    team.run("alice", reviews.request_review, number, ReviewKind.DESIGN, ["UBOB", "UCARL"])
    assert steps(team, number) == [
        NextStep("review", ("UBOB", "UCARL"), "the design review must approve first")
    ]


def test_running_and_analyzing_move_on_by_the_owner_or_a_manager(team: Team) -> None:
    number = propose(team)
    team.run("alice", take_step, number, "start")
    assert steps(team, number) == [NextStep("analyze", SCIENCE), NextStep("conclude", SCIENCE)]
    team.run("alice", take_step, number, "analyze")
    assert steps(team, number) == [NextStep("conclude", SCIENCE)]


def test_in_review_the_asked_reviewers_review(team: Team) -> None:
    hire(team, "carl")
    number = concluded(team)
    assert steps(team, number) == [
        NextStep("review", ("UBOB", "UCARL"), "approve or request changes")
    ]
    assert "review — <@UBOB> or <@UCARL>" in shown(team, number)


def test_in_review_with_no_current_reviewer_the_managers_assign_one(team: Team) -> None:
    hire(team, "carl")
    number = concluded(team)
    with team.db.write() as uow:  # both leave without a word to the review service
        uow.members.remove_roles("T0001", "UBOB", None, None)
        uow.members.remove_roles("T0001", "UCARL", None, None)
        uow.commit()
    assert steps(team, number) == [
        NextStep("assign a reviewer", MANAGERS, "nobody is asked to review it now")
    ]


@pytest.mark.parametrize("status", ["approved", "scheduled"])
def test_engineering_schedules_and_ships(team: Team, status: str) -> None:
    hire(team, "carl")
    number = concluded(team)
    for reviewer in ("UBOB", "UCARL"):
        team.run(actor(team, reviewer), reviews.decide, number, True, "")
    assert team.experiment(number).status.value == "approved"
    if status == "scheduled":
        team.run("erin", reviews.schedule_engineering, number, "")
        assert steps(team, number) == [NextStep("ship", ENGINEERING)]
    else:
        assert steps(team, number) == [NextStep("schedule", ENGINEERING)]
        assert "schedule — <@UADMIN>, <@UBOSS>, <@UERIN> or <@UMGR>" in shown(team, number)


def test_a_final_state_has_no_next_step(team: Team) -> None:
    number = propose(team)
    team.run("alice", take_step, number, "abandon", text="superseded")
    assert steps(team, number) == []
    assert "Next steps: none — EXP-1 is abandoned (final)" in shown(team, number)


def test_someone_who_left_is_not_named(team: Team) -> None:
    number = propose(team)
    team.run("admin", team_service.remove_member, "UALICE", None, None)
    assert steps(team, number) == [NextStep("start", MANAGERS)]

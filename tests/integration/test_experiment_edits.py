"""The first principle and /exp edit over a real database (SPEC §2, 2026-12): a draft may
be proposed, but start waits for a hypothesis and a success criterion; edits are audited
field by field; a criterion changed after start is shown to the reviewers."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.commands import EditExperiment, NewExperiment
from bot.domain.errors import (
    InvalidTransition,
    PermissionDenied,
    ValidationError,
    WipLimitExceeded,
)
from bot.domain.model import (
    Direction,
    Experiment,
    Outcome,
    OutgoingMessage,
    Project,
    Role,
    Status,
    SuccessCriterion,
    Workstream,
)
from bot.services import reviews
from bot.services import team as team_service
from bot.services.experiments import (
    create_experiment,
    edit_experiment,
    experiment_history,
    take_step,
)
from bot.slack.blocks import experiments as render
from bot.slack.notices import SlackNotices
from tests.integration.conftest import TEAM, RecordingNotices, Team


class RenderedReviews(RecordingNotices):
    """RecordingNotices that queue the review request as Slack would show it."""

    def review_requested(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        reviewers: list[str],
        quorum: int,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_requested", (experiment.key, list(reviewers)))
        return SlackNotices().review_requested(
            experiment, project, review, reviewers, quorum, **extra
        )


@pytest.fixture
def notices() -> RenderedReviews:
    """Notices that record, and render review requests for real."""
    return RenderedReviews()


def snapshot(team: Team, number: int) -> tuple[int, int, Experiment]:
    """What a refused request must leave alone."""
    return team.audit_count(), len(team.outbox_rows()), team.experiment(number)


def draft(team: Team, title: str = "NoHyp", who: str = "alice") -> int:
    return team.run(who, create_experiment, NewExperiment("churn", title)).number


def ready(team: Team, who: str = "alice", stream: Workstream = Workstream.MAIN) -> int:
    proposal = NewExperiment("churn", "Tenure", "Tenure lifts AUC", "auc", 0.01, stream=stream)
    return team.run(who, create_experiment, proposal).number


def trail(team: Team, number: int) -> list[tuple[str, dict[str, Any]]]:
    _, entries = team.run("alice", experiment_history, number)
    return [(e.action, e.detail) for e in entries]


# --- item 2: start needs a hypothesis and a success criterion -----------------------


def test_a_draft_cannot_start_and_the_refusal_says_how_to_write_it(team: Team) -> None:
    number = draft(team)
    before = snapshot(team, number)
    with pytest.raises(ValidationError) as refused:
        team.run("alice", take_step, number, "start")
    assert str(refused.value) == (
        "EXP-1 cannot start yet: write a hypothesis and a success criterion first, with"
        " `/exp edit EXP-1 --hypothesis … --metric auc --min-delta 0.01`."
    )
    assert snapshot(team, number) == before
    # A manager with --force cannot skip it either: the principle is not a WIP limit.
    with pytest.raises(ValidationError, match="cannot start yet"):
        team.run("manager", take_step, number, "start", force=True)


def test_edit_writes_what_start_needs_audited_field_by_field(team: Team) -> None:
    number = draft(team)
    edit = EditExperiment(number, hypothesis="Tenure lifts AUC", metric="auc", min_delta=0.01)
    edited = team.run("alice", edit_experiment, edit)
    assert edited.hypothesis == "Tenure lifts AUC"
    assert edited.criterion == SuccessCriterion("auc", Direction.HIGHER, 0.01)
    assert edited.version == 2
    action, detail = trail(team, number)[-1]
    assert action == "edited"
    assert detail == {
        "hypothesis": {"from": "", "to": "Tenure lifts AUC"},
        "criterion": {"from": None, "to": "auc +0.01 vs baseline (higher is better)"},
        "status": "proposed",
    }
    assert ("experiment_changed", ("EXP-1", "UALICE", "edited", detail)) in team.notices.calls
    assert team.run("alice", take_step, number, "start").after.status is Status.RUNNING


def test_history_shows_each_edited_field_from_and_to(team: Team) -> None:
    number = draft(team, "Old title")
    team.run("alice", edit_experiment, EditExperiment(number, title="New title"))
    reply = render.history(*team.run("alice", experiment_history, number))
    assert "title: Old title → New title" in str(reply.blocks)


@pytest.mark.parametrize("who", ["alice", "manager", "boss"])
def test_the_owner_or_a_manager_edits(team: Team, who: str) -> None:
    number = draft(team)
    assert team.run(who, edit_experiment, EditExperiment(number, title="Renamed")).title == (
        "Renamed"
    )


@pytest.mark.parametrize(
    ("who", "error", "words"),
    [
        ("bob", PermissionDenied, "Only the owner or a manager can edit EXP-1"),
        ("erin", PermissionDenied, "Only the owner or a manager can edit EXP-1"),
        ("zoe", PermissionDenied, "which you are not on"),
    ],
)
def test_others_may_not_edit_and_nothing_changes(
    team: Team, who: str, error: type[Exception], words: str
) -> None:
    number = draft(team)
    before = snapshot(team, number)
    with pytest.raises(error, match=words):
        team.run(who, edit_experiment, EditExperiment(number, title="Mine now"))
    assert snapshot(team, number) == before


@pytest.mark.parametrize(
    ("edit", "error", "words"),
    [
        (EditExperiment(1, direction=Direction.HIGHER), ValidationError, "no success criterion"),
        (EditExperiment(1, metric="rmse", direction=Direction.HIGHER), ValidationError, "rmse"),
        (EditExperiment(1, title="NoHyp"), ValidationError, "Nothing to change"),
        (EditExperiment(1, hypothesis="   "), ValidationError, "hypothesis cannot be empty"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(
    team: Team, edit: EditExperiment, error: type[Exception], words: str
) -> None:
    number = draft(team)
    before = snapshot(team, number)
    with pytest.raises(error, match=words):
        team.run("alice", edit_experiment, edit)
    assert snapshot(team, number) == before


def test_a_finished_experiment_is_not_edited(team: Team) -> None:
    number = draft(team)
    team.run("alice", take_step, number, "abandon", text="superseded")
    before = snapshot(team, number)
    with pytest.raises(InvalidTransition, match="EXP-1 is abandoned"):
        team.run("manager", edit_experiment, EditExperiment(number, title="Revived"))
    assert snapshot(team, number) == before


# --- item 4: the direction follows the metric, on every surface -----------------------


def test_a_direction_against_the_metric_is_refused_and_none_defaults_to_the_right_one(
    team: Team,
) -> None:
    before = team.audit_count()
    wrong = NewExperiment("churn", "Calibrate", "h", "log_loss", 0.01, Direction.HIGHER)
    with pytest.raises(ValidationError, match="log_loss is better when lower"):
        team.run("alice", create_experiment, wrong)
    assert team.audit_count() == before
    right = team.run("alice", create_experiment, NewExperiment("churn", "Calibrate", "h", "brier"))
    assert right.criterion == SuccessCriterion("brier", Direction.LOWER, 0.0)


# --- the criterion after start: audited, and shown to reviewers ------------------------


def test_a_criterion_changed_after_start_is_shown_in_the_review_request(team: Team) -> None:
    for name in ("carl", "dana"):
        team.run("admin", team_service.add_member, f"U{name.upper()}", Role.SCIENTIST, "churn")
    number = ready(team)
    team.run("alice", take_step, number, "start")
    assert not team.experiment(number).criterion_changed_after_start
    team.run("alice", edit_experiment, EditExperiment(number, min_delta=0.005))
    action, detail = trail(team, number)[-1]
    assert action == "criterion_changed_after_start"
    assert detail["criterion"] == {
        "from": "auc +0.01 vs baseline (higher is better)",
        "to": "auc +0.005 vs baseline (higher is better)",
    }
    assert team.experiment(number).criterion_changed_after_start
    team.run("alice", take_step, number, "conclude", outcome=Outcome.SUCCESS, text="It lifts")
    if not any(name == "review_requested" for name, _ in team.notices.calls):
        team.run("alice", reviews.request_review, number, None, [])  # before auto review
    posted = [
        row.payload
        for row in team.outbox_rows()
        if row.method == "chat.postMessage"
        and str(row.payload.get("text", "")).startswith("Review of the results")
    ]
    assert posted, "the review request was posted"
    assert "Criterion changed after the experiment started" in str(posted[-1]["blocks"])


def test_a_title_edit_after_start_is_not_flagged(team: Team) -> None:
    number = ready(team)
    team.run("alice", take_step, number, "start")
    team.run("alice", edit_experiment, EditExperiment(number, title="Tenure, v2"))
    assert trail(team, number)[-1][0] == "edited"
    assert not team.experiment(number).criterion_changed_after_start


# --- the stream of work in flight counts against the WIP limit ------------------------


def test_moving_work_in_flight_into_a_full_stream_is_refused(team: Team) -> None:
    main = ready(team)
    side = ready(team, stream=Workstream.SIDE)
    team.run("alice", take_step, main, "start")
    team.run("alice", take_step, side, "start")
    before = snapshot(team, side)
    with pytest.raises(WipLimitExceeded) as refused:
        team.run("alice", edit_experiment, EditExperiment(side, stream=Workstream.MAIN))
    assert "already has 1 main-stream experiment(s) in flight (limit 1)" in str(refused.value)
    assert "EXP-1 Tenure" in str(refused.value)
    assert snapshot(team, side) == before
    # Into the side stream (limit 3) it fits; a proposal is not in flight at all.
    team.run("alice", edit_experiment, EditExperiment(main, stream=Workstream.SIDE))
    proposal = ready(team)
    moved = team.run("alice", edit_experiment, EditExperiment(proposal, stream=Workstream.SIDE))
    assert moved.workstream is Workstream.SIDE
    assert team.read(lambda uow: uow.experiments.require(TEAM, main)).workstream.value == "side"

"""The first principle and /exp edit (SPEC §2, 2026-12): no start without a hypothesis and
a success criterion; each metric has one direction; what an edit may change, and when."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.commands import EditExperiment
from bot.domain.editing import apply_edit
from bot.domain.errors import InvalidTransition, ValidationError
from bot.domain.lifecycle import apply, check_ready, missing_before_start
from bot.domain.model import Direction, Status, SuccessCriterion, Workstream, success_criterion
from tests.unit.test_lifecycle import NOW, OWNER, experiment

# Written out from the SPEC, independently of the table in bot/domain/model.py.
LOWER = ["log_loss", "brier", "rmse", "mae"]
HIGHER = ["auc", "ap", "accuracy", "f1", "r2"]


@pytest.mark.parametrize("metric", LOWER + HIGHER)
def test_each_metric_has_one_direction_and_no_direction_defaults_to_it(metric: str) -> None:
    right = Direction.LOWER if metric in LOWER else Direction.HIGHER
    wrong = Direction.HIGHER if metric in LOWER else Direction.LOWER
    assert success_criterion(metric) == SuccessCriterion(metric, right, 0.0)
    assert success_criterion(metric, right, 0.01) == SuccessCriterion(metric, right, 0.01)
    with pytest.raises(ValidationError, match=f"{metric} is better when {right.value}"):
        success_criterion(metric, wrong)


def test_the_refusal_states_the_whole_rule() -> None:
    with pytest.raises(ValidationError) as refused:
        success_criterion("log_loss", Direction.HIGHER)
    message = str(refused.value)
    for metric in LOWER + HIGHER:
        assert metric in message
    assert "Leave out --direction" in message


def test_the_metric_names_are_the_evaluation_summary_s() -> None:
    """A criterion must be checkable against an evaluation: its metric is one the
    summary computes (classification or regression)."""
    import numpy as np

    from bot.domain.point_metrics import classification_metrics, regression_metrics

    y = np.array([0, 1, 0, 1, 1, 0] * 5, dtype=float)
    score = np.linspace(0.1, 0.9, len(y))
    computed = set(classification_metrics(y, score)) | set(regression_metrics(y, score))
    assert set(LOWER + HIGHER) <= computed


def test_aliases_and_case_name_the_table_s_metrics() -> None:
    assert success_criterion("Log-Loss").metric == "log_loss"
    assert success_criterion("logloss").metric == "log_loss"
    assert success_criterion("R²").metric == "r2"
    with pytest.raises(ValidationError, match="Unknown metric 'mape'"):
        success_criterion("mape")


# --- start needs a hypothesis and a criterion ---------------------------------------


@pytest.mark.parametrize(
    ("hypothesis", "criterion", "missing"),
    [
        ("", None, "write a hypothesis and a success criterion first"),
        ("  ", SuccessCriterion("auc", Direction.HIGHER, 0.01), "write a hypothesis first"),
        ("Tenure helps", None, "write a success criterion first"),
    ],
)
def test_a_draft_cannot_start(hypothesis: str, criterion: object, missing: str) -> None:
    draft = replace(experiment(), hypothesis=hypothesis, criterion=criterion)
    with pytest.raises(ValidationError, match=missing) as refused:
        apply(draft, "start", OWNER, NOW)
    assert "/exp edit EXP-7" in str(refused.value)
    if criterion is None:
        assert "--metric auc --min-delta 0.01" in str(refused.value)


def test_a_written_proposal_is_ready() -> None:
    assert missing_before_start(experiment()) == []
    check_ready(experiment())
    assert apply(experiment(), "start", OWNER, NOW).status is Status.RUNNING


# --- what an edit may change ----------------------------------------------------------


def test_an_edit_returns_each_changed_field_from_and_to() -> None:
    draft = replace(experiment(), hypothesis="", criterion=None)
    edited = apply_edit(
        draft,
        EditExperiment(7, title="New title", hypothesis="Tenure helps", metric="log_loss"),
        NOW,
    )
    assert edited.experiment.criterion == SuccessCriterion("log_loss", Direction.LOWER, 0.0)
    assert edited.changes == {
        "title": {"from": "Gradient boosting on tenure features", "to": "New title"},
        "hypothesis": {"from": "", "to": "Tenure helps"},
        "criterion": {"from": None, "to": "log_loss −0 vs baseline (lower is better)"},
    }
    assert edited.action == "edited"
    assert not edited.experiment.criterion_changed_after_start
    assert missing_before_start(edited.experiment) == []


def test_min_delta_alone_keeps_the_metric_and_a_new_metric_keeps_the_min_delta() -> None:
    e = experiment()  # auc +0.01
    delta = apply_edit(e, EditExperiment(7, min_delta=0.02), NOW).experiment.criterion
    assert delta == SuccessCriterion("auc", Direction.HIGHER, 0.02)
    metric = apply_edit(e, EditExperiment(7, metric="brier"), NOW).experiment.criterion
    assert metric == SuccessCriterion("brier", Direction.LOWER, 0.01)


def test_direction_or_min_delta_without_any_metric_is_refused() -> None:
    draft = replace(experiment(), criterion=None)
    with pytest.raises(ValidationError, match="no success criterion yet"):
        apply_edit(draft, EditExperiment(7, min_delta=0.01), NOW)


def test_a_direction_against_the_experiment_s_metric_is_refused() -> None:
    with pytest.raises(ValidationError, match="auc is better when higher"):
        apply_edit(experiment(), EditExperiment(7, direction=Direction.LOWER), NOW)


@pytest.mark.parametrize("status", [Status.RUNNING, Status.ANALYZING])
def test_a_criterion_changed_after_start_is_named_apart(status: Status) -> None:
    edited = apply_edit(experiment(status), EditExperiment(7, min_delta=0.005), NOW)
    assert edited.action == "criterion_changed_after_start"
    assert edited.experiment.criterion_changed_after_start
    title_only = apply_edit(experiment(status), EditExperiment(7, title="Renamed"), NOW)
    assert title_only.action == "edited"


@pytest.mark.parametrize("status", [Status.IN_REVIEW, Status.APPROVED, Status.SCHEDULED])
def test_after_conclusion_the_science_is_frozen_but_the_title_is_not(status: Status) -> None:
    with pytest.raises(ValidationError, match="concluded against"):
        apply_edit(experiment(status), EditExperiment(7, hypothesis="Something else"), NOW)
    with pytest.raises(ValidationError, match="concluded against"):
        apply_edit(experiment(status), EditExperiment(7, min_delta=0.0), NOW)
    renamed = apply_edit(experiment(status), EditExperiment(7, title="Renamed"), NOW)
    assert renamed.experiment.title == "Renamed"


@pytest.mark.parametrize("status", [Status.SHIPPED, Status.CLOSED, Status.ABANDONED])
def test_final_states_are_not_edited(status: Status) -> None:
    with pytest.raises(InvalidTransition, match="is not edited"):
        apply_edit(experiment(status), EditExperiment(7, title="Renamed"), NOW)


def test_an_edit_that_changes_nothing_is_refused() -> None:
    e = experiment()
    with pytest.raises(ValidationError, match="Nothing to change"):
        apply_edit(e, EditExperiment(7, title=e.title, stream=Workstream.MAIN), NOW)

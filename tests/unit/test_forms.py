"""Modal forms: reading Slack's submitted state, with an error per field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.commands import NewExperiment, Step
from bot.domain.model import (
    KNOWN_METRICS,
    Direction,
    Experiment,
    Outcome,
    Status,
    Workstream,
)
from bot.slack.blocks.forms import (
    ABANDON,
    CONCLUDE,
    NEW_EXPERIMENT,
    abandon_form,
    conclude_form,
    form_values,
    new_experiment_form,
    read_new_experiment,
    read_step,
)

GOOD = {
    "project": "churn",
    "title": "Tenure features",
    "hypothesis": "Tenure interactions lift AUC",
    "metric": "auc",
    "min_delta": "0.01",
    "stream": "side",
}


def submitted(**changes: str) -> dict[str, str]:
    return {**GOOD, **changes}


def text_input(value: str | None) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def select(value: str | None) -> dict[str, Any]:
    option = (
        None if value is None else {"text": {"type": "plain_text", "text": value}, "value": value}
    )
    return {"value": {"type": "static_select", "selected_option": option}}


# --- form_values -------------------------------------------------------------------


def test_form_values_flattens_text_inputs_and_selects() -> None:
    state = {
        "project": select("churn"),
        "title": text_input("  Tenure features \n"),
        "hypothesis": text_input("Lift"),
        "metric": select("auc"),
        "min_delta": text_input("0.01"),
        "stream": select("main"),
    }
    assert form_values(state) == {
        "project": "churn",
        "title": "Tenure features",
        "hypothesis": "Lift",
        "metric": "auc",
        "min_delta": "0.01",
        "stream": "main",
    }


def test_form_values_reads_unfilled_fields_as_empty() -> None:
    state = {
        "metric": select(None),
        "min_delta": text_input(None),
        "title": {"value": {"type": "plain_text_input"}},
        "stream": {"value": {"type": "static_select"}},
    }
    assert form_values(state) == {"metric": "", "min_delta": "", "title": "", "stream": ""}


def test_form_values_of_an_empty_state() -> None:
    assert form_values({}) == {}


# --- the new-experiment form -------------------------------------------------------


def test_a_good_submission_becomes_a_new_experiment() -> None:
    assert read_new_experiment(GOOD) == NewExperiment(
        project="churn",
        title="Tenure features",
        hypothesis="Tenure interactions lift AUC",
        metric="auc",
        min_delta=0.01,
        direction=Direction.HIGHER,
        stream=Workstream.SIDE,
    )


def test_the_minimal_submission_needs_only_project_and_title() -> None:
    assert read_new_experiment({"project": "churn", "title": "T"}) == NewExperiment(
        project="churn", title="T"
    )


def test_a_lower_is_better_metric_sets_the_direction() -> None:
    parsed = read_new_experiment(submitted(metric="log_loss", min_delta=""))
    assert isinstance(parsed, NewExperiment)
    assert (parsed.metric, parsed.direction, parsed.min_delta) == ("log_loss", Direction.LOWER, 0.0)


def test_the_form_read_from_slack_state_end_to_end() -> None:
    state = {
        "project": select("churn"),
        "title": text_input("Tenure"),
        "hypothesis": text_input(None),
        "metric": select(None),
        "min_delta": text_input(None),
        "stream": select("main"),
    }
    assert read_new_experiment(form_values(state)) == NewExperiment(project="churn", title="Tenure")


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"title": ""}, "title", "title is needed"),
        ({"title": "x" * 201}, "title", "200"),
        ({"project": ""}, "project", "Choose a project"),
        ({"project": "Not a slug"}, "project", "Choose a project"),
        ({"min_delta": "a lot"}, "min_delta", "A number"),
        ({"min_delta": "nan"}, "min_delta", "finite"),
        ({"min_delta": "inf"}, "min_delta", "finite"),
        ({"min_delta": "-0.5"}, "min_delta", "≥ 0"),
        ({"metric": "", "min_delta": "0.01"}, "metric", "metric the improvement"),
        ({"metric": "precision"}, "metric", "from the list"),
        ({"stream": "middle"}, "stream", "main or side"),
    ],
)
def test_each_bad_field_gets_its_own_error(changes: dict[str, str], field: str, says: str) -> None:
    errors = read_new_experiment(submitted(**changes))
    assert isinstance(errors, dict)
    assert list(errors) == [field]
    assert says in errors[field]


def test_every_bad_field_is_reported_at_once() -> None:
    errors = read_new_experiment({"project": "", "title": "", "min_delta": "x", "stream": "?"})
    assert isinstance(errors, dict)
    assert set(errors) == {"project", "title", "min_delta", "stream"}


def test_the_new_experiment_form_offers_projects_metrics_and_streams() -> None:
    view = new_experiment_form(["churn", "fraud"])
    assert view["callback_id"] == NEW_EXPERIMENT
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) == {"project", "title", "hypothesis", "metric", "min_delta", "stream"}
    projects = [o["value"] for o in blocks["project"]["element"]["options"]]
    assert projects == ["churn", "fraud"]
    assert blocks["project"]["element"]["initial_option"]["value"] == "churn"
    metrics = {o["value"] for o in blocks["metric"]["element"]["options"]}
    assert metrics == set(KNOWN_METRICS)
    assert blocks["metric"]["optional"] is True
    assert blocks["stream"]["element"]["initial_option"]["value"] == "main"
    # Every field reads back under the action id form_values expects.
    assert all(b["element"]["action_id"] == "value" for b in blocks.values())


# --- conclude and abandon forms ----------------------------------------------------


def test_conclude_form_reads_outcome_and_learnings() -> None:
    values = {"outcome": "failure", "learnings": "No lift; churners are rare in March."}
    assert read_step(CONCLUDE, 7, values) == Step(
        "conclude", 7, outcome=Outcome.FAILURE, text="No lift; churners are rare in March."
    )


@pytest.mark.parametrize(
    ("values", "fields"),
    [
        ({"outcome": "", "learnings": "x"}, {"outcome"}),
        ({"outcome": "great", "learnings": "x"}, {"outcome"}),
        ({"outcome": "success", "learnings": ""}, {"learnings"}),
        ({}, {"outcome", "learnings"}),
    ],
)
def test_conclude_form_errors_per_field(values: dict[str, str], fields: set[str]) -> None:
    errors = read_step(CONCLUDE, 7, values)
    assert isinstance(errors, dict)
    assert set(errors) == fields
    assert all(errors.values())


def test_abandon_form_reads_the_reason() -> None:
    assert read_step(ABANDON, 9, {"reason": "The data was leaky"}) == Step(
        "abandon", 9, text="The data was leaky"
    )


@pytest.mark.parametrize("values", [{}, {"reason": ""}])
def test_abandon_form_needs_a_reason(values: dict[str, str]) -> None:
    errors = read_step(ABANDON, 9, values)
    assert isinstance(errors, dict)
    assert set(errors) == {"reason"}


def test_step_forms_carry_the_experiment_key() -> None:
    at = datetime(2024, 3, 4, tzinfo=UTC)
    e = Experiment(
        1, "T1", 9, "churn", "Tenure", "", "U1", Workstream.MAIN, None,
        Status.RUNNING, None, "", 1, at, at,
    )  # fmt: skip
    concluded = conclude_form(e)
    assert (concluded["callback_id"], concluded["private_metadata"]) == (CONCLUDE, "EXP-9")
    outcomes = [o["value"] for b in concluded["blocks"] if b.get("block_id") == "outcome"
                for o in b["element"]["options"]]  # fmt: skip
    assert outcomes == ["success", "failure", "inconclusive"]
    abandoned = abandon_form(e)
    assert (abandoned["callback_id"], abandoned["private_metadata"]) == (ABANDON, "EXP-9")
    assert any(b.get("block_id") == "reason" for b in abandoned["blocks"])

"""Project rules set with ``/mlgov rules <project> key=value``: validated, all or nothing."""

from __future__ import annotations

import pytest

from bot.domain.errors import ValidationError
from bot.domain.model import ProjectRules
from bot.domain.rules import (
    RULE_KEYS,
    describe_rules,
    rules_from_dict,
    rules_to_dict,
    updated_rules,
)

CURRENT = ProjectRules(wip_main=1, wip_side=3, wip_project=0, design_review="optional", quorum=2)


def test_valid_changes_apply() -> None:
    after = updated_rules(
        CURRENT,
        {
            "wip_main": "2",
            "wip_side": "0",
            "wip_project": "12",
            "design_review": "required",
            "quorum": "3",
        },
    )
    assert after == ProjectRules(
        wip_main=2, wip_side=0, wip_project=12, design_review="required", quorum=3
    )
    assert CURRENT.wip_main == 1  # the old value object is untouched


def test_no_changes_keep_the_rules() -> None:
    assert updated_rules(CURRENT, {}) == CURRENT


def test_a_partial_change_keeps_the_other_rules() -> None:
    current = ProjectRules(wip_main=4, quorum=3)
    assert updated_rules(current, {"design_review": "off"}) == ProjectRules(
        wip_main=4, quorum=3, design_review="off"
    )


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [("wip_main", 1, 20), ("wip_side", 0, 50), ("wip_project", 0, 500), ("quorum", 1, 10)],
)
def test_range_boundaries_are_inclusive(key: str, low: int, high: int) -> None:
    assert getattr(updated_rules(CURRENT, {key: str(low)}), key) == low
    assert getattr(updated_rules(CURRENT, {key: str(high)}), key) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(ValidationError) as refused:
            updated_rules(CURRENT, {key: str(bad)})
        assert key in str(refused.value)
        assert str(bad) in str(refused.value)


@pytest.mark.parametrize("raw", ["two", "1.5", "", "1e2", "0x2", "--"])
@pytest.mark.parametrize("key", ["wip_main", "wip_side", "wip_project", "quorum"])
def test_non_integers_are_refused_naming_the_key(key: str, raw: str) -> None:
    with pytest.raises(ValidationError) as refused:
        updated_rules(CURRENT, {key: raw})
    assert key in str(refused.value)
    assert "whole number" in str(refused.value)


@pytest.mark.parametrize("raw", ["maybe", "Required", "", "on"])
def test_a_bad_choice_is_refused_naming_the_key_and_choices(raw: str) -> None:
    with pytest.raises(ValidationError) as refused:
        updated_rules(CURRENT, {"design_review": raw})
    message = str(refused.value)
    assert "design_review" in message
    assert "required, optional, off" in message


@pytest.mark.parametrize("key", ["wip", "WIP_MAIN", "quorum ", "max_experiments"])
def test_an_unknown_key_is_refused_naming_it_and_the_known_ones(key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        updated_rules(CURRENT, {key: "1"})
    message = str(refused.value)
    assert f"'{key}'" in message
    for known in RULE_KEYS:
        assert known in message


def test_nothing_applies_when_any_change_is_bad_and_every_problem_is_named() -> None:
    changes = {"wip_main": "3", "quorum": "99", "colour": "blue", "design_review": "required"}
    with pytest.raises(ValidationError) as refused:
        updated_rules(CURRENT, changes)
    message = str(refused.value)
    assert message.startswith("Rules not changed")
    assert "quorum" in message and "colour" in message
    # The valid changes are not reported as problems, and the rules are as they were.
    assert "wip_main" not in message.split("(known:")[0]
    assert CURRENT == ProjectRules(wip_main=1, wip_side=3, design_review="optional", quorum=2)


def test_describe_rules_lists_every_rule_with_its_values() -> None:
    text = describe_rules()
    for key in RULE_KEYS:
        assert key in text
    assert "required | optional | off" in text
    assert "1–20" in text


def test_rules_round_trip_through_stored_json() -> None:
    rules = ProjectRules(wip_main=2, wip_side=5, wip_project=9, design_review="off", quorum=1)
    assert rules_from_dict(rules_to_dict(rules)) == rules


def test_stored_rules_ignore_unknown_keys_and_fill_defaults() -> None:
    assert rules_from_dict({"quorum": 4, "from_a_newer_version": True}) == ProjectRules(quorum=4)
    assert rules_from_dict({}) == ProjectRules()


def test_digest_channel_and_time_are_rules() -> None:
    from datetime import time

    from bot.domain.rules import digest_schedule

    rules = updated_rules(
        ProjectRules(), {"digest_channel": "<#C0ABC123|ml-leads>", "digest_time": "Fri  16:30"}
    )
    assert rules.digest_channel == "C0ABC123" and rules.digest_time == "fri 16:30"
    assert digest_schedule(rules) == (4, time(16, 30))
    assert digest_schedule(ProjectRules()) == (0, time(8, 0))  # Monday 08:00 by default
    assert updated_rules(rules, {"digest_channel": "none"}).digest_channel == ""
    for key, raw, words in (
        ("digest_channel", "#leads", "digest_channel must be a #channel or none"),
        ("digest_channel", "<@U123>", "digest_channel must be a #channel or none"),
        ("digest_time", "monday 8am", "digest_time must be like 'mon 08:00'"),
        ("digest_time", "mon 24:00", "digest_time must be like 'mon 08:00'"),
        ("digest_time", "mon", "digest_time must be like 'mon 08:00'"),
    ):
        with pytest.raises(ValidationError, match=words):
            updated_rules(rules, {key: raw})


def test_mlflow_model_names_a_registered_model_or_none() -> None:
    named = updated_rules(CURRENT, {"mlflow_model": "churn-classifier.v2"})
    assert named.mlflow_model == "churn-classifier.v2"
    assert updated_rules(named, {"mlflow_model": "none"}).mlflow_model == ""
    for bad in ("it's", 'a"b', "back\\slash", "x" * 257, ""):
        with pytest.raises(ValidationError, match="mlflow_model must be a registered model"):
            updated_rules(CURRENT, {"mlflow_model": bad})
    assert "mlflow_model" in describe_rules()

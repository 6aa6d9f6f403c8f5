"""The gate in MLflow's registry: webhook signatures, event bodies, the tags of a version.

Signatures are computed here the way MLflow 3.17's ``mlflow/webhooks/delivery.py`` does
(``_generate_hmac_signature``), written out independently; the tests against a real MLflow
server (tests/mlflow) check the same against MLflow's own deliveries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.api.mlflow_webhook import delivery_key, signature_problem
from bot.domain.errors import ValidationError
from bot.domain.model import Experiment, Outcome, Status, Workstream
from bot.domain.registry import (
    APPROVED_BY,
    EVALUATION,
    EXPERIMENT,
    GATE,
    REASONS,
    RegistryEvent,
    gate_tags,
    is_echo,
    parse_delivery,
    registry_gate,
    warnings_due,
)
from bot.domain.review import Decision, Review, ReviewKind

SECRET = "whsec-test"
NOW = 1_790_000_000
AT = datetime(2026, 12, 1, tzinfo=UTC)
DELIVERY = "6f1c2b9e-8d0a-4a52-9e57-3c1f0d2a7b11"


def mlflow_signature(secret: str, delivery_id: str, timestamp: str, payload: str) -> str:
    signed = f"{delivery_id}.{timestamp}.{payload}"
    digest = hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("utf-8")


def body(entity: str = "model_version_alias", action: str = "created", **data: object) -> str:
    data = data or {"name": "churn", "alias": "champion", "version": "3"}
    return json.dumps({"entity": entity, "action": action, "timestamp": "t", "data": data})


# --- signatures ----------------------------------------------------------------------


def test_a_delivery_signed_as_mlflow_signs_is_accepted() -> None:
    payload = body()
    signature = mlflow_signature(SECRET, DELIVERY, str(NOW), payload)
    assert signature_problem(SECRET, payload.encode(), DELIVERY, str(NOW), signature, NOW) is None


def test_a_rotated_secret_may_send_several_signatures() -> None:
    payload = body()
    old = mlflow_signature("old-secret", DELIVERY, str(NOW), payload)
    new = mlflow_signature(SECRET, DELIVERY, str(NOW), payload)
    given = f"{old} {new}"
    assert signature_problem(SECRET, payload.encode(), DELIVERY, str(NOW), given, NOW) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"secret": "another-secret"}, "does not match"),
        ({"body": body(alias="production")}, "does not match"),
        ({"delivery_id": "another-id"}, "does not match"),
        ({"signature": "v1,AAAA"}, "does not match"),
        ({"signature": ""}, "unsigned"),
        ({"delivery_id": ""}, "unsigned"),
        ({"timestamp": "yesterday"}, "not Unix seconds"),
        ({"timestamp": str(NOW - 301)}, "more than five minutes"),
        ({"timestamp": str(NOW + 301)}, "more than five minutes"),
    ],
)
def test_forged_unsigned_and_stale_deliveries_are_refused(change: dict[str, str], why: str) -> None:
    sent = {"secret": SECRET, "body": body(), "delivery_id": DELIVERY, "timestamp": str(NOW)}
    signature = mlflow_signature(SECRET, DELIVERY, sent["timestamp"], sent["body"])
    timestamp = change.get("timestamp", str(NOW))
    if "timestamp" in change and change["timestamp"].isdigit():  # re-signed: only its age
        signature = mlflow_signature(SECRET, DELIVERY, timestamp, sent["body"])
    problem = signature_problem(
        change.get("secret", SECRET),
        change.get("body", sent["body"]).encode(),
        change.get("delivery_id", DELIVERY),
        timestamp,
        change.get("signature", signature),
        NOW,
    )
    assert problem is not None and why in problem


def test_a_delivery_id_must_fit_the_inbox_key() -> None:
    assert delivery_key(DELIVERY) == DELIVERY
    assert delivery_key("x" * 65) is None
    assert delivery_key("id\nwith newline") is None
    assert delivery_key("") is None


# --- event bodies ----------------------------------------------------------------------


def test_the_three_model_version_events_name_their_version() -> None:
    created = parse_delivery(
        json.loads(
            body(
                "model_version",
                "created",
                name="churn",
                version="4",
                source="models:/m-1",
                run_id="abc",
                tags={},
                description=None,
            )
        )
    )
    alias = parse_delivery(json.loads(body()))
    tag = parse_delivery(
        json.loads(body("model_version_tag", "set", name="churn", version="3", key="k", value="v"))
    )
    assert created == RegistryEvent("churn", "4", "created")
    assert alias == RegistryEvent("churn", "3", "alias", alias="champion")
    assert tag == RegistryEvent("churn", "3", "tag", tag=("k", "v"))


def test_other_events_are_not_acted_on() -> None:
    for entity, action in (
        ("registered_model", "created"),
        ("model_version_alias", "deleted"),
        ("prompt", "created"),
        ("budget_policy", "exceeded"),
    ):
        assert parse_delivery(json.loads(body(entity, action, name="x"))) is None


@pytest.mark.parametrize(
    "sent",
    [
        [],
        "text",
        {"entity": "model_version"},
        {"entity": "model_version", "action": "created"},
        {"entity": "model_version", "action": "created", "data": {"name": "churn"}},
        {"entity": "model_version", "action": "created", "data": {"name": "", "version": "1"}},
        {"entity": "model_version", "action": "created", "data": {"name": "m", "version": "x"}},
        {"entity": "model_version", "action": "created", "data": {"name": "m", "version": True}},
        {"entity": "model_version_alias", "action": "created", "data": {"name": "m", "version": 1}},
        {
            "entity": "model_version_tag",
            "action": "set",
            "data": {"name": "m", "version": "1", "key": "k"},
        },
    ],
)
def test_a_malformed_body_says_what_is_wrong(sent: object) -> None:
    with pytest.raises(ValidationError):
        parse_delivery(sent)


def test_mlflows_echo_of_a_tag_mlgov_set_is_not_looked_at() -> None:
    wanted = {GATE: "blocked", EXPERIMENT: "EXP-7"}
    assert is_echo(RegistryEvent("m", "1", "tag", tag=(GATE, "blocked")), wanted)
    assert not is_echo(RegistryEvent("m", "1", "tag", tag=(GATE, "passed")), wanted)
    assert not is_echo(RegistryEvent("m", "1", "alias", alias="champion"), wanted)


# --- the gate of a version ---------------------------------------------------------------


def experiment(status: Status, outcome: Outcome | None = Outcome.SUCCESS) -> Experiment:
    return Experiment(
        7, "T1", 7, "churn", "Calibrated churn", "h", "UOWNER", Workstream.MAIN, None,
        status, outcome, "", 1, AT, AT, conclusions=1,
    )  # fmt: skip


def approved_review(*reviewers: str) -> Review:
    decisions = tuple(Decision(r, True, AT, 1, 12) for r in reviewers)
    return Review(1, 7, ReviewKind.RESULTS, "UOWNER", AT, False, decisions)


def test_a_model_of_an_experiment_in_review_is_blocked_with_every_reason() -> None:
    unmet = registry_gate(experiment(Status.IN_REVIEW), approved_review("UALICE"), 2)
    assert unmet == ["1 of 2 approvals from scientists other than the owner",
                     "EXP-7 is in_review, not approved"]  # fmt: skip
    tags = gate_tags(experiment(Status.IN_REVIEW), unmet, [], "")
    assert tags.set == {GATE: "blocked", REASONS: "; ".join(unmet), EXPERIMENT: "EXP-7"}
    assert tags.remove == (APPROVED_BY, EVALUATION)


def test_approved_scheduled_and_shipped_experiments_pass() -> None:
    review = approved_review("UALICE", "UBOB")
    for status in (Status.APPROVED, Status.SCHEDULED, Status.SHIPPED):
        assert registry_gate(experiment(status), review, 2) == []
    # A quorum raised after scheduling does not undo what the gate let through.
    assert registry_gate(experiment(Status.SHIPPED), review, 3) == []
    assert registry_gate(experiment(Status.APPROVED), review, 3) != []
    tags = gate_tags(experiment(Status.APPROVED), [], ["Alice (UALICE)", "UBOB"], "#12")
    assert tags.set == {
        GATE: "passed",
        EXPERIMENT: "EXP-7",
        APPROVED_BY: "Alice (UALICE), UBOB",
        EVALUATION: "#12",
    }
    assert tags.remove == (REASONS,)


def test_closed_and_abandoned_experiments_stay_blocked() -> None:
    review = approved_review("UALICE", "UBOB")
    assert "the outcome is failure, not success" in registry_gate(
        experiment(Status.CLOSED, Outcome.FAILURE), review, 2
    )
    abandoned = replace(experiment(Status.ABANDONED), outcome=None)
    assert "EXP-7 is abandoned, not approved" in registry_gate(abandoned, review, 2)


def test_only_changed_tags_are_written_and_only_own_stale_ones_removed() -> None:
    tags = gate_tags(experiment(Status.APPROVED), [], ["UALICE"], "#12")
    current = {GATE: "blocked", REASONS: "old", EXPERIMENT: "EXP-7", "team": "risk"}
    changes = tags.changes(current)
    assert changes.set == {GATE: "passed", APPROVED_BY: "UALICE", EVALUATION: "#12"}
    assert changes.remove == (REASONS,)
    assert tags.changes({**tags.set}).empty()


def test_a_long_list_of_reasons_fits_mlflows_tag_limit() -> None:
    unmet = ["x" * 3000, "y" * 3000]
    assert len(gate_tags(experiment(Status.RUNNING), unmet, [], "").set[REASONS]) == 5000


def test_each_registration_and_alias_is_warned_about_once() -> None:
    assert warnings_due((), ()) == ("registered",)
    assert warnings_due(("champion",), ("registered",)) == ("alias:champion",)
    assert warnings_due(("champion",), ("registered", "alias:champion")) == ()
    assert warnings_due(("a", "b"), ()) == ("registered", "alias:a", "alias:b")

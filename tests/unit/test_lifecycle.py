"""The experiment lifecycle (SPEC §2), checked against the SPEC's diagram written out here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import InvalidTransition, PermissionDenied, ValidationError
from bot.domain.lifecycle import allowed_steps, apply
from bot.domain.model import (
    Actor,
    Direction,
    Experiment,
    Outcome,
    Role,
    Status,
    SuccessCriterion,
    Workstream,
)

CREATED = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(days=2)

# The SPEC §2 diagram, read independently of bot/domain/lifecycle.py:
# status -> {step: target}. accept_results' target depends on the outcome (see below).
EXPECTED: dict[Status, dict[str, Status | None]] = {
    Status.PROPOSED: {"start": Status.RUNNING, "abandon": Status.ABANDONED},
    Status.RUNNING: {
        "analyze": Status.ANALYZING,
        "conclude": Status.IN_REVIEW,
        "abandon": Status.ABANDONED,
    },
    Status.ANALYZING: {"conclude": Status.IN_REVIEW, "abandon": Status.ABANDONED},
    Status.IN_REVIEW: {
        "request_changes": Status.ANALYZING,
        "accept_results": None,
        "abandon": Status.ABANDONED,
    },
    Status.APPROVED: {"schedule": Status.SCHEDULED, "abandon": Status.ABANDONED},
    Status.SCHEDULED: {"ship": Status.SHIPPED, "abandon": Status.ABANDONED},
    Status.SHIPPED: {},
    Status.CLOSED: {},
    Status.ABANDONED: {},
}
FINAL_STATES = [s for s, steps in EXPECTED.items() if not steps]
NON_FINAL_STATES = [s for s, steps in EXPECTED.items() if steps]
ALL_STEPS = sorted({step for steps in EXPECTED.values() for step in steps})
REVIEW_STEPS = {"request_changes", "accept_results"}
ENGINEERING_STEPS = {"schedule", "ship"}

OWNER = Actor("T1", "UOWNER", frozenset({Role.SCIENTIST}))
MANAGER = Actor("T1", "UBOSS", project_roles={"churn": frozenset({Role.MANAGER})})
ORG_MANAGER = Actor("T1", "UCTO", frozenset({Role.MANAGER}))
OTHER_MANAGER = Actor("T1", "UOTHERBOSS", project_roles={"fraud": frozenset({Role.MANAGER})})
ENGINEER = Actor("T1", "UENG", project_roles={"churn": frozenset({Role.ENGINEER})})
OTHER_ENGINEER = Actor("T1", "UENG2", project_roles={"fraud": frozenset({Role.ENGINEER})})
PEER = Actor("T1", "UPEER", frozenset({Role.SCIENTIST}))
ADMIN = Actor("T1", "UADMIN", frozenset({Role.ADMIN}))


def experiment(status: Status = Status.PROPOSED, outcome: Outcome | None = None) -> Experiment:
    """An experiment of project churn owned by UOWNER, in ``status``."""
    return Experiment(
        id=1,
        team_id="T1",
        number=7,
        project="churn",
        title="Gradient boosting on tenure features",
        hypothesis="Tenure interactions lift AUC",
        owner_id=OWNER.user_id,
        workstream=Workstream.MAIN,
        criterion=SuccessCriterion("auc", Direction.HIGHER, 0.01),
        status=status,
        outcome=outcome,
        learnings="",
        version=3,
        created_at=CREATED,
        updated_at=CREATED,
    )


def permitted_actor(step: str) -> Actor | None:
    """Someone allowed to take ``step`` on :func:`experiment` (None: the review process)."""
    if step in REVIEW_STEPS:
        return None
    return ENGINEER if step in ENGINEERING_STEPS else OWNER


def take(e: Experiment, step: str, actor: Actor | None = None) -> Experiment:
    """Apply ``step`` as a permitted actor, with what conclude needs."""
    return apply(
        e,
        step,
        actor if actor is not None else permitted_actor(step),
        NOW,
        outcome=Outcome.SUCCESS,
        learnings="Tenure helps a little.",
    )


def start_state_for(step: str) -> Status:
    return next(s for s, steps in EXPECTED.items() if step in steps)


# --- the table ---------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_allowed_steps_match_the_spec_diagram(status: Status) -> None:
    # What people are told they can do: review-only steps show as "peer review".
    shown = {"peer review" if step in REVIEW_STEPS else step for step in EXPECTED[status]}
    assert set(allowed_steps(status)) == shown
    assert len(allowed_steps(status)) == len(set(allowed_steps(status)))


def test_the_spec_diagram_covers_every_status() -> None:
    assert set(EXPECTED) == set(Status)


@pytest.mark.parametrize(
    ("status", "step", "target"),
    [
        (status, step, target)
        for status, steps in EXPECTED.items()
        for step, target in steps.items()
        if target is not None
    ],
)
def test_every_allowed_step_reaches_its_target(status: Status, step: str, target: Status) -> None:
    after = take(experiment(status, outcome=Outcome.SUCCESS), step)
    assert after.status is target
    assert after.updated_at == NOW


@pytest.mark.parametrize(
    ("status", "step"),
    [(s, step) for s in Status for step in ALL_STEPS if step not in EXPECTED[s]],
)
def test_every_other_step_is_refused_with_the_allowed_ones(status: Status, step: str) -> None:
    e = experiment(status, outcome=Outcome.SUCCESS)
    with pytest.raises(InvalidTransition) as refused:
        take(e, step)
    error = refused.value
    assert error.allowed == tuple(allowed_steps(status))
    assert e.key in str(error)
    assert status.value in str(error)
    if error.allowed:
        for allowed in error.allowed:
            assert allowed in str(error)
    else:
        assert "final" in str(error)


def test_an_unknown_step_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="teleport"):
        apply(experiment(), "teleport", OWNER, NOW)


def test_the_happy_path_from_proposal_to_production() -> None:
    e = experiment()
    for step, status in [
        ("start", Status.RUNNING),
        ("analyze", Status.ANALYZING),
        ("conclude", Status.IN_REVIEW),
        ("accept_results", Status.APPROVED),
        ("schedule", Status.SCHEDULED),
        ("ship", Status.SHIPPED),
    ]:
        e = take(e, step)
        assert e.status is status
    assert allowed_steps(e.status) == []


def test_changes_requested_sends_the_experiment_back_to_analysis() -> None:
    e = take(experiment(Status.ANALYZING), "conclude")
    e = apply(e, "request_changes", None, NOW)
    assert e.status is Status.ANALYZING
    again = apply(e, "conclude", OWNER, NOW, outcome=Outcome.FAILURE, learnings="Not after all.")
    assert (again.status, again.outcome, again.learnings) == (
        Status.IN_REVIEW,
        Outcome.FAILURE,
        "Not after all.",
    )


# --- conclude and accept_results -----------------------------------------------------


@pytest.mark.parametrize("status", [Status.RUNNING, Status.ANALYZING])
def test_conclude_records_outcome_and_learnings(status: Status) -> None:
    after = apply(
        experiment(status),
        "conclude",
        OWNER,
        NOW,
        outcome=Outcome.INCONCLUSIVE,
        learnings="  Too few churners in March.  ",
    )
    assert after.status is Status.IN_REVIEW
    assert after.outcome is Outcome.INCONCLUSIVE
    assert after.learnings == "Too few churners in March."


def test_conclude_without_an_outcome_is_refused() -> None:
    with pytest.raises(ValidationError, match="outcome"):
        apply(experiment(Status.RUNNING), "conclude", OWNER, NOW, learnings="Something.")


@pytest.mark.parametrize("learnings", [None, "", "   \n\t"])
def test_conclude_without_learnings_is_refused(learnings: str | None) -> None:
    with pytest.raises(ValidationError, match="learnings"):
        apply(
            experiment(Status.RUNNING),
            "conclude",
            OWNER,
            NOW,
            outcome=Outcome.SUCCESS,
            learnings=learnings,
        )


@pytest.mark.parametrize(
    ("outcome", "target"),
    [
        (Outcome.SUCCESS, Status.APPROVED),
        (Outcome.FAILURE, Status.CLOSED),
        (Outcome.INCONCLUSIVE, Status.CLOSED),
    ],
)
def test_accepted_results_go_by_outcome(outcome: Outcome, target: Status) -> None:
    after = apply(experiment(Status.IN_REVIEW, outcome), "accept_results", None, NOW)
    assert after.status is target
    assert after.outcome is outcome


def test_accepting_results_without_a_recorded_outcome_is_refused() -> None:
    with pytest.raises(ValidationError, match="outcome"):
        apply(experiment(Status.IN_REVIEW, outcome=None), "accept_results", None, NOW)


def test_a_closed_experiment_is_final() -> None:
    closed = apply(experiment(Status.IN_REVIEW, Outcome.FAILURE), "accept_results", None, NOW)
    with pytest.raises(InvalidTransition) as refused:
        take(closed, "schedule")
    assert refused.value.allowed == ()


# --- abandon -------------------------------------------------------------------------


@pytest.mark.parametrize("status", NON_FINAL_STATES)
@pytest.mark.parametrize("actor", [OWNER, MANAGER], ids=["owner", "manager"])
def test_abandon_from_every_non_final_state(status: Status, actor: Actor) -> None:
    after = apply(experiment(status, Outcome.SUCCESS), "abandon", actor, NOW)
    assert after.status is Status.ABANDONED


@pytest.mark.parametrize("status", FINAL_STATES)
def test_never_abandon_from_a_final_state(status: Status) -> None:
    with pytest.raises(InvalidTransition) as refused:
        apply(experiment(status, Outcome.SUCCESS), "abandon", OWNER, NOW)
    assert refused.value.allowed == ()
    assert "final" in str(refused.value)


# --- permissions -------------------------------------------------------------------

SCIENCE_CASES = [("start", Status.PROPOSED), ("analyze", Status.RUNNING)]
SCIENCE_CASES += [("conclude", Status.ANALYZING), ("abandon", Status.APPROVED)]


@pytest.mark.parametrize(("step", "status"), SCIENCE_CASES)
@pytest.mark.parametrize(
    "actor", [OWNER, MANAGER, ORG_MANAGER], ids=["owner", "project-manager", "org-manager"]
)
def test_owner_or_manager_moves_the_science(step: str, status: Status, actor: Actor) -> None:
    assert take(experiment(status), step, actor).status is EXPECTED[status][step]


@pytest.mark.parametrize(("step", "status"), SCIENCE_CASES)
@pytest.mark.parametrize(
    "actor",
    [PEER, ENGINEER, OTHER_MANAGER, ADMIN],
    ids=["peer-scientist", "engineer", "manager-elsewhere", "admin"],
)
def test_nobody_else_moves_the_science(step: str, status: Status, actor: Actor) -> None:
    with pytest.raises(PermissionDenied) as denied:
        take(experiment(status), step, actor)
    assert "owner or manager" in str(denied.value)
    assert OWNER.user_id in str(denied.value)


@pytest.mark.parametrize(
    ("step", "status"), [*SCIENCE_CASES, ("schedule", Status.APPROVED), ("ship", Status.SCHEDULED)]
)
def test_steps_by_hand_need_an_actor(step: str, status: Status) -> None:
    with pytest.raises(PermissionDenied):
        apply(
            experiment(status, Outcome.SUCCESS),
            step,
            None,
            NOW,
            outcome=Outcome.SUCCESS,
            learnings="x",
        )


@pytest.mark.parametrize(
    ("step", "status"), [("schedule", Status.APPROVED), ("ship", Status.SCHEDULED)]
)
@pytest.mark.parametrize(
    "actor",
    [ENGINEER, MANAGER, ORG_MANAGER, Actor("T1", "UE", frozenset({Role.ENGINEER}))],
    ids=["project-engineer", "project-manager", "org-manager", "org-engineer"],
)
def test_engineers_or_managers_schedule_and_ship(step: str, status: Status, actor: Actor) -> None:
    assert take(experiment(status, Outcome.SUCCESS), step, actor).status is EXPECTED[status][step]


@pytest.mark.parametrize(
    ("step", "status"), [("schedule", Status.APPROVED), ("ship", Status.SCHEDULED)]
)
@pytest.mark.parametrize(
    "actor",
    [OWNER, PEER, OTHER_ENGINEER, ADMIN],
    ids=["owner", "peer", "engineer-elsewhere", "admin"],
)
def test_scientists_do_not_schedule_or_ship(step: str, status: Status, actor: Actor) -> None:
    with pytest.raises(PermissionDenied, match="engineer or manager"):
        take(experiment(status, Outcome.SUCCESS), step, actor)


@pytest.mark.parametrize("step", sorted(REVIEW_STEPS))
@pytest.mark.parametrize(
    "actor", [OWNER, MANAGER, ORG_MANAGER, ADMIN], ids=["owner", "manager", "org-manager", "admin"]
)
def test_nobody_takes_review_steps_by_hand(step: str, actor: Actor) -> None:
    e = experiment(Status.IN_REVIEW, Outcome.SUCCESS)
    with pytest.raises(PermissionDenied, match="peer review"):
        apply(e, step, actor, NOW)


def test_refusal_for_the_wrong_state_comes_before_permission() -> None:
    # A stranger asking for an impossible step hears why it is impossible, not who may.
    with pytest.raises(InvalidTransition):
        apply(experiment(Status.SHIPPED), "start", PEER, NOW)


# --- values, not mutation ------------------------------------------------------------


@pytest.mark.parametrize("step", ALL_STEPS)
def test_apply_returns_a_new_experiment_and_leaves_the_input_alone(step: str) -> None:
    before = experiment(start_state_for(step), Outcome.SUCCESS)
    snapshot = replace(before)
    after = take(before, step)
    assert after is not before
    assert before == snapshot
    assert before.status is start_state_for(step)
    assert before.updated_at == CREATED
    # Everything but the lifecycle fields is carried over unchanged.
    assert (after.id, after.key, after.title, after.owner_id, after.version) == (
        before.id,
        before.key,
        before.title,
        before.owner_id,
        before.version,
    )


# --- new results reopen the review (issue 10, item 1) ----------------------------------


@pytest.mark.parametrize("status", [Status.APPROVED, Status.SCHEDULED])
def test_new_results_reopen_an_approved_or_scheduled_experiment(status: Status) -> None:
    after = apply(experiment(status, Outcome.SUCCESS), "reopen_review", None, NOW)
    assert after.status is Status.IN_REVIEW
    # Nobody reopens by hand, and it is not a step anyone is offered.
    with pytest.raises(PermissionDenied, match="peer review"):
        apply(experiment(status, Outcome.SUCCESS), "reopen_review", OWNER, NOW)
    assert "reopen_review" not in allowed_steps(status)


@pytest.mark.parametrize(
    "status", [s for s in Status if s not in (Status.APPROVED, Status.SCHEDULED)]
)
def test_nothing_else_is_reopened(status: Status) -> None:
    with pytest.raises(InvalidTransition):
        apply(experiment(status, Outcome.SUCCESS), "reopen_review", None, NOW)

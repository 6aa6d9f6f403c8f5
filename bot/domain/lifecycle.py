"""The experiment lifecycle as data (SPEC §2), and the one function that applies it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.errors import InvalidTransition, PermissionDenied, ValidationError
from bot.domain.model import Actor, Experiment, Outcome, Role, Status


class Mover(StrEnum):
    """Who may take a step."""

    SCIENCE = "owner or manager"  # the owner, or a manager of the project
    ENGINEERING = "engineer or manager"
    REVIEW = "the review process"  # only the review service moves these
    RESULTS = "new results"  # new evaluation results reopen the review; nobody asks for it


@dataclass(frozen=True)
class Transition:
    """A named step from any of ``sources`` to ``target`` (or by outcome)."""

    name: str
    sources: frozenset[Status]
    target: Status | None
    mover: Mover
    # For steps whose target depends on the recorded outcome.
    target_by_outcome: tuple[tuple[Outcome, Status], ...] = ()

    def target_for(self, outcome: Outcome | None) -> Status:
        if self.target is not None:
            return self.target
        for candidate, status in self.target_by_outcome:
            if candidate is outcome:
                return status
        raise ValidationError(f"'{self.name}' needs a recorded outcome.")


FINAL = frozenset({Status.SHIPPED, Status.CLOSED, Status.ABANDONED})
NON_FINAL = frozenset(Status) - FINAL
IN_FLIGHT = frozenset({Status.RUNNING, Status.ANALYZING})

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("start", frozenset({Status.PROPOSED}), Status.RUNNING, Mover.SCIENCE),
        Transition("analyze", frozenset({Status.RUNNING}), Status.ANALYZING, Mover.SCIENCE),
        Transition(
            "conclude",
            frozenset({Status.RUNNING, Status.ANALYZING}),
            Status.IN_REVIEW,
            Mover.SCIENCE,
        ),
        Transition(
            "request_changes", frozenset({Status.IN_REVIEW}), Status.ANALYZING, Mover.REVIEW
        ),
        Transition(
            "accept_results",
            frozenset({Status.IN_REVIEW}),
            None,
            Mover.REVIEW,
            target_by_outcome=(
                (Outcome.SUCCESS, Status.APPROVED),
                (Outcome.FAILURE, Status.CLOSED),
                (Outcome.INCONCLUSIVE, Status.CLOSED),
            ),
        ),
        Transition("schedule", frozenset({Status.APPROVED}), Status.SCHEDULED, Mover.ENGINEERING),
        Transition("ship", frozenset({Status.SCHEDULED}), Status.SHIPPED, Mover.ENGINEERING),
        # Approvals count for the results they saw: newer results send it back to review.
        Transition(
            "reopen_review",
            frozenset({Status.APPROVED, Status.SCHEDULED}),
            Status.IN_REVIEW,
            Mover.RESULTS,
        ),
        Transition("abandon", NON_FINAL, Status.ABANDONED, Mover.SCIENCE),
    )
}


def allowed_steps(status: Status) -> list[str]:
    """What a person can do next from ``status``, in table order; steps that peer review
    takes on its own are shown as one entry, 'peer review'."""
    steps: list[str] = []
    for t in TRANSITIONS.values():
        if status in t.sources and t.mover is not Mover.RESULTS:
            name = "peer review" if t.mover is Mover.REVIEW else t.name
            if name not in steps:
                steps.append(name)
    return steps


def may_move(actor: Actor, experiment: Experiment, mover: Mover) -> bool:
    """Whether ``actor`` may take a step that belongs to ``mover``."""
    manager = actor.has(Role.MANAGER, experiment.project)
    if mover is Mover.SCIENCE:
        return manager or actor.user_id == experiment.owner_id
    if mover is Mover.ENGINEERING:
        return manager or actor.has(Role.ENGINEER, experiment.project)
    return False


def apply(
    experiment: Experiment,
    step: str,
    actor: Actor | None,
    now: datetime,
    *,
    outcome: Outcome | None = None,
    learnings: str | None = None,
) -> Experiment:
    """Return ``experiment`` after ``step``, or raise why it may not happen.

    ``actor`` is None only for steps the review process takes on its own behalf.
    """
    transition = check(experiment, step, actor)
    if step == "conclude":
        if outcome is None:
            raise ValidationError("conclude needs an outcome: success, failure or inconclusive.")
        if not learnings or not learnings.strip():
            raise ValidationError("conclude needs the learnings, in a sentence or more.")
        experiment = replace(
            experiment,
            outcome=outcome,
            learnings=learnings.strip(),
            conclusions=experiment.conclusions + 1,
        )
    target = transition.target_for(experiment.outcome)
    return replace(experiment, status=target, updated_at=now)


def check(experiment: Experiment, step: str, actor: Actor | None) -> Transition:
    """Raise why ``actor`` may not take ``step`` now (before asking for its details)."""
    transition = TRANSITIONS.get(step)
    if transition is None:
        raise ValidationError(f"Unknown step '{step}'.")
    if experiment.status not in transition.sources:
        raise InvalidTransition(
            f"{experiment.key} is {experiment.status}; it cannot {step.replace('_', ' ')}.",
            allowed_steps(experiment.status),
        )
    if transition.mover in (Mover.REVIEW, Mover.RESULTS):
        if actor is not None:
            raise PermissionDenied(f"'{step}' happens through peer review, not by hand.")
    elif actor is None or not may_move(actor, experiment, transition.mover):
        raise PermissionDenied(
            f"Only the {transition.mover.value} can {step} {experiment.key}"
            f" (owner: <@{experiment.owner_id}>)."
        )
    if step == "start":
        check_ready(experiment)
    return transition


def missing_before_start(experiment: Experiment) -> list[str]:
    """What must be written before ``experiment`` may start (SPEC §1: the first principle)."""
    missing = []
    if not experiment.hypothesis.strip():
        missing.append("a hypothesis")
    if experiment.criterion is None:
        missing.append("a success criterion")
    return missing


def check_ready(experiment: Experiment) -> None:
    """Refuse to start a draft, saying what to write and how."""
    missing = missing_before_start(experiment)
    if not missing:
        return
    example = [f"/exp edit {experiment.key}"]
    if not experiment.hypothesis.strip():
        example.append("--hypothesis …")
    if experiment.criterion is None:
        example.append("--metric auc --min-delta 0.01")
    raise ValidationError(
        f"{experiment.key} cannot start yet: write {' and '.join(missing)} first,"
        f" with `{' '.join(example)}`."
    )


def check_mover(experiment: Experiment, step: str, actor: Actor) -> None:
    """Raise unless ``actor`` is someone who takes ``step`` (whatever the status now)."""
    transition = TRANSITIONS[step]
    if not may_move(actor, experiment, transition.mover):
        raise PermissionDenied(
            f"Only the {transition.mover.value} can {step} {experiment.key}"
            f" (owner: <@{experiment.owner_id}>)."
        )

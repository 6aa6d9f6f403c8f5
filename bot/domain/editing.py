"""Editing an experiment's description (``/exp edit``): what may change, and when.

Rules, in one place:

- The title and the stream may change in every non-final state.
- The hypothesis and the success criterion may change until the experiment is concluded
  (proposed, running, analyzing). A criterion changed after ``start`` is allowed, audited
  as ``criterion_changed_after_start`` and shown to the reviewers. Once concluded, the
  results were judged against them: a review's request for changes (back to analyzing)
  opens them again.
- ``--direction`` and ``--min-delta`` change the criterion there is; without one they
  need ``--metric``. The direction always follows the metric (``success_criterion``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.commands import EditExperiment
from bot.domain.errors import InvalidTransition, ValidationError
from bot.domain.lifecycle import FINAL
from bot.domain.model import Experiment, Status, SuccessCriterion, success_criterion

# States in which the hypothesis and the criterion are still the owner's to change.
BEFORE_CONCLUSION = frozenset({Status.PROPOSED, Status.RUNNING, Status.ANALYZING})
CRITERION_CHANGED = "criterion_changed_after_start"  # the audit action that flags it


@dataclass(frozen=True)
class Edited:
    """The experiment after an edit, and each changed field's ``from`` and ``to``."""

    experiment: Experiment
    changes: dict[str, dict[str, str | None]]

    @property
    def criterion_after_start(self) -> bool:
        return "criterion" in self.changes and self.experiment.status is not Status.PROPOSED

    @property
    def action(self) -> str:
        """The audit action: criterion edits after start are named apart, for reviewers."""
        return CRITERION_CHANGED if self.criterion_after_start else "edited"


def _describe(criterion: SuccessCriterion | None) -> str | None:
    return criterion.describe() if criterion else None


def _criterion(experiment: Experiment, edit: EditExperiment) -> SuccessCriterion | None:
    current = experiment.criterion
    if edit.metric is None and edit.direction is None and edit.min_delta is None:
        return current
    metric = edit.metric or (current.metric if current else None)
    if metric is None:
        raise ValidationError(
            f"{experiment.key} has no success criterion yet: --direction and --min-delta"
            f" need --metric (e.g. `/exp edit {experiment.key} --metric auc --min-delta 0.01`)."
        )
    min_delta = edit.min_delta
    if min_delta is None and current is not None:
        min_delta = current.min_delta
    return success_criterion(metric, edit.direction, min_delta)


def apply_edit(experiment: Experiment, edit: EditExperiment, now: datetime) -> Edited:
    """Return ``experiment`` with ``edit`` applied, or raise why it may not change."""
    if experiment.status in FINAL:
        raise InvalidTransition(
            f"{experiment.key} is {experiment.status}; a finished experiment is not edited.",
            [],
        )
    science = edit.hypothesis is not None or any(
        v is not None for v in (edit.metric, edit.direction, edit.min_delta)
    )
    if science and experiment.status not in BEFORE_CONCLUSION:
        raise ValidationError(
            f"{experiment.key} is {experiment.status}: its results were concluded against"
            " this hypothesis and success criterion, so they stay as they are. A reviewer's"
            " request for changes sends it back to analyzing, where they can change again."
        )
    hypothesis = experiment.hypothesis if edit.hypothesis is None else edit.hypothesis.strip()
    if edit.hypothesis is not None and not hypothesis:
        raise ValidationError("The hypothesis cannot be empty.")
    title = experiment.title if edit.title is None else edit.title.strip()
    if not title:
        raise ValidationError("The title cannot be empty.")
    after = replace(
        experiment,
        title=title,
        hypothesis=hypothesis,
        criterion=_criterion(experiment, edit),
        workstream=edit.stream or experiment.workstream,
        updated_at=now,
    )
    pairs = {
        "title": (experiment.title, after.title),
        "hypothesis": (experiment.hypothesis, after.hypothesis),
        "criterion": (_describe(experiment.criterion), _describe(after.criterion)),
        "stream": (experiment.workstream.value, after.workstream.value),
    }
    changes = {k: {"from": a, "to": b} for k, (a, b) in pairs.items() if a != b}
    if not changes:
        raise ValidationError(f"Nothing to change: {experiment.key} has those values already.")
    if "criterion" in changes and experiment.status is not Status.PROPOSED:
        after = replace(after, criterion_changed_after_start=True)
    return Edited(after, changes)

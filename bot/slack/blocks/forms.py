"""Modals (forms) and the reading of their submissions, with per-field errors."""

from __future__ import annotations

import math
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    OptionGroup,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.commands import DecideReview, NewExperiment, Step
from bot.domain.model import (
    KEY_PATTERN,
    KNOWN_METRICS,
    LOWER_IS_BETTER,
    SLUG_PATTERN,
    Direction,
    Experiment,
    Outcome,
    Workstream,
    plain_number,
)
from bot.slack.blocks import clip, escape, section

NEW_EXPERIMENT = "exp_new"
CONCLUDE = "exp_conclude"
ABANDON = "exp_abandon"
CHANGES = "review_changes"
FieldErrors = dict[str, str]
# Slack's limits for a static select: 100 options, or 100 groups of 100 options.
MAX_OPTIONS = 100
MAX_OPTION_GROUPS = 100


def _text_input(
    block_id: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    max_length: int = 3000,
    hint: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id="value", multiline=multiline, max_length=max_length
        ),
    )


def _select(
    block_id: str,
    label: str,
    choices: list[str],
    *,
    optional: bool = False,
    initial: str | None = None,
) -> InputBlock:
    """A menu of ``choices``: a plain list up to Slack's 100 options, in groups of 100
    beyond (up to 100 groups); Slack's menu filters either by what is typed."""
    options = [Option(value=c, text=c) for c in choices[: MAX_OPTIONS * MAX_OPTION_GROUPS]]
    initial_option = next((o for o in options if o.value == initial), None)
    if len(options) <= MAX_OPTIONS:
        element = StaticSelectElement(
            action_id="value", options=options, initial_option=initial_option
        )
    else:
        groups = [options[i : i + MAX_OPTIONS] for i in range(0, len(options), MAX_OPTIONS)]
        element = StaticSelectElement(
            action_id="value",
            option_groups=[
                OptionGroup(label=_group_label(group), options=group) for group in groups
            ],
            initial_option=initial_option,
        )
    return InputBlock(block_id=block_id, label=label, optional=optional, element=element)


def _group_label(group: list[Option]) -> str:
    """``churn … fraud-v2``: the first and last choice of a group (75 characters at most)."""
    first, last = (str(option.value) for option in (group[0], group[-1]))
    return clip(f"{first} … {last}", 75)


def _view(callback_id: str, title: str, blocks: list[Any], metadata: str = "") -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=title,
        submit="Save",
        close="Cancel",
        blocks=blocks,
        private_metadata=metadata,
    )
    return view.to_dict()


def new_experiment_form(projects: list[str]) -> dict[str, Any]:
    """The form `/exp new` opens when typed without arguments."""
    return _view(
        NEW_EXPERIMENT,
        "New experiment",
        [
            _select("project", "Project", projects, initial=projects[0] if projects else None),
            _text_input("title", "Title", max_length=200),
            _text_input(
                "hypothesis",
                "Hypothesis",
                multiline=True,
                hint="What do you expect, and why? Written before any results.",
            ),
            _select("metric", "Success metric", sorted(KNOWN_METRICS), optional=True),
            _text_input(
                "min_delta",
                "Minimum improvement over the baseline",
                optional=True,
                max_length=20,
                hint="For example 0.01",
            ),
            _select("stream", "Workstream", [w.value for w in Workstream], initial="main"),
        ],
    )


def conclude_form(e: Experiment) -> dict[str, Any]:
    return _view(
        CONCLUDE,
        f"Conclude {e.key}",
        [
            section(f"*{e.key}* {escape(e.title)}"),
            _select("outcome", "Outcome", [o.value for o in Outcome]),
            _text_input(
                "learnings",
                "Learnings",
                multiline=True,
                hint="What did we learn? A failure is a result too.",
            ),
        ],
        metadata=e.key,
    )


def abandon_form(e: Experiment) -> dict[str, Any]:
    return _view(
        ABANDON,
        f"Abandon {e.key}",
        [
            section(f"*{e.key}* {escape(e.title)}"),
            _text_input("reason", "Why abandon it?", multiline=True),
        ],
        metadata=e.key,
    )


def form_values(state: dict[str, Any]) -> dict[str, str]:
    """Flatten Slack's ``view.state.values`` to block_id -> text (empty when not given)."""
    flat: dict[str, str] = {}
    for block_id, fields in state.items():
        for element in fields.values():
            value = element.get("value")
            if value is None and element.get("selected_option"):
                value = element["selected_option"].get("value")
            flat[block_id] = (value or "").strip()
    return flat


def read_new_experiment(values: dict[str, str]) -> NewExperiment | FieldErrors:
    errors: FieldErrors = {}
    project = values.get("project", "").lower()
    if not SLUG_PATTERN.match(project):
        errors["project"] = "Choose a project."
    title = values.get("title", "")
    if not title:
        errors["title"] = "A title is needed."
    elif len(title) > 200:
        errors["title"] = "At most 200 characters."
    metric = values.get("metric") or None
    if metric is not None and metric not in KNOWN_METRICS:
        errors["metric"] = "Choose a metric from the list."
    min_delta: float | None = None
    if values.get("min_delta"):
        try:
            min_delta = plain_number(values["min_delta"])
        except ValueError:
            errors["min_delta"] = "A number, like 0.01."
        else:
            if not math.isfinite(min_delta) or min_delta < 0:
                errors["min_delta"] = "A finite number ≥ 0."
            elif metric is None:
                errors["metric"] = "Choose the metric the improvement is measured in."
    stream = values.get("stream") or "main"
    if stream not in {w.value for w in Workstream}:
        errors["stream"] = "main or side."
    if errors:
        return errors
    direction = None
    if metric is not None:
        direction = Direction.LOWER if metric in LOWER_IS_BETTER else Direction.HIGHER
    return NewExperiment(
        project=project,
        title=title,
        hypothesis=values.get("hypothesis", "")[:3000],
        metric=metric,
        min_delta=(min_delta or 0.0) if metric else None,
        direction=direction,
        stream=Workstream(stream),
    )


def read_step(callback_id: str, number: int, values: dict[str, str]) -> Step | FieldErrors:
    if callback_id == CONCLUDE:
        errors: FieldErrors = {}
        outcome = values.get("outcome", "")
        if outcome not in {o.value for o in Outcome}:
            errors["outcome"] = "Choose success, failure or inconclusive."
        if not values.get("learnings"):
            errors["learnings"] = "Write down what was learned."
        if errors:
            return errors
        return Step("conclude", number, outcome=Outcome(outcome), text=values["learnings"])
    if not values.get("reason"):
        return {"reason": "Say why, so the team learns from it."}
    return Step("abandon", number, text=values["reason"])


def changes_form(e: Experiment, review_id: int) -> dict[str, Any]:
    return _view(
        CHANGES,
        f"Changes to {e.key}",
        [
            section(f"*{e.key}* {escape(e.title)}"),
            _text_input(
                "reason",
                "What should change, and why?",
                multiline=True,
                hint="The owner sees this in the thread.",
            ),
        ],
        metadata=f"{e.key}:{review_id}",
    )


def read_changes(metadata: str, values: dict[str, str]) -> DecideReview | FieldErrors:
    key, _, review = metadata.partition(":")
    match = KEY_PATTERN.match(key)
    if match is None or not review.isdigit():
        return {"reason": "This form lost track of its review; open it again."}
    if not values.get("reason"):
        return {"reason": "Say what should change: the owner needs the reason."}
    return DecideReview(int(match.group(1)), False, values["reason"], int(review))

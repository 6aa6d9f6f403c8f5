"""The words of a proposal: ``/exp new`` and ``/exp edit`` -> typed commands.

Pure, like bot/slack/parsing.py, which dispatches to these. The success criterion is
checked against the domain's metric table (``success_criterion``), so the direction a
user types can never contradict the metric.
"""

from __future__ import annotations

import math

from bot.domain.commands import EditExperiment, NewExperiment
from bot.domain.errors import UsageError, ValidationError
from bot.domain.model import Direction, Workstream, plain_number, success_criterion
from bot.slack.words import (
    MAX_TEXT,
    MAX_TITLE,
    checked_text,
    project_slug,
    split_flags,
    text_arg,
    unescape,
    unquote,
)

CRITERION_FLAGS = {"metric", "min-delta", "direction"}


def parse_new(rest: list[str], usage: str) -> NewExperiment:
    positional, flags = split_flags(rest, {"hypothesis", "stream", *CRITERION_FLAGS}, usage)
    if len(positional) < 2:
        raise UsageError("new needs a project and a title.", usage)
    project = project_slug(positional[0], usage)
    title = unquote(text_arg(positional[1:], "title", usage, MAX_TITLE))
    metric, direction, min_delta = _criterion(flags, usage)
    return NewExperiment(
        project=project,
        title=title,
        hypothesis=unquote(flags.get("hypothesis", "")[:MAX_TEXT]),
        metric=metric,
        min_delta=min_delta,
        direction=direction,
        stream=_stream(flags, usage) or Workstream.MAIN,
    )


def parse_edit(number: int, args: list[str], usage: str) -> EditExperiment:
    positional, flags = split_flags(
        args, {"title", "hypothesis", "stream", *CRITERION_FLAGS}, usage
    )
    if positional:
        raise UsageError(
            f"Unexpected '{unescape(' '.join(positional))}': say what to change, like"
            " --title or --hypothesis.",
            usage,
        )
    if not flags:
        raise UsageError("edit needs at least one change.", usage)
    title = flags.get("title")
    if title is not None:
        # split_flags has unescaped the value already: unescaping twice would turn a
        # typed "&amp;" into "&".
        title = unquote(checked_text(title, "title", usage, MAX_TITLE))
    hypothesis = flags.get("hypothesis")
    if hypothesis is not None:
        hypothesis = unquote(checked_text(hypothesis, "hypothesis", usage))
    metric = direction = min_delta = None
    if CRITERION_FLAGS & flags.keys():
        # The experiment's own metric may complete --direction / --min-delta: the
        # service checks them against it; here only what the words alone can tell.
        metric, direction, min_delta = _criterion(flags, usage, need_metric=False)
        # Only what was typed: a missing --min-delta keeps the experiment's own.
        direction = direction if "direction" in flags else None
        min_delta = min_delta if "min-delta" in flags else None
    return EditExperiment(
        number,
        title=title,
        hypothesis=hypothesis,
        metric=metric,
        direction=direction,
        min_delta=min_delta,
        stream=_stream(flags, usage),
    )


def _stream(flags: dict[str, str], usage: str) -> Workstream | None:
    if "stream" not in flags:
        return None
    try:
        return Workstream(flags["stream"].lower())
    except ValueError:
        wrong = flags["stream"]
        raise UsageError(f"--stream must be main or side, not '{wrong}'.", usage) from None


def _criterion(
    flags: dict[str, str], usage: str, *, need_metric: bool = True
) -> tuple[str | None, Direction | None, float | None]:
    """--metric, --direction and --min-delta, checked against the metric table."""
    min_delta: float | None = None
    if "min-delta" in flags:
        try:
            min_delta = plain_number(flags["min-delta"])
        except ValueError:
            raise UsageError(
                f"--min-delta must be a number, not '{flags['min-delta']}'.", usage
            ) from None
        if not math.isfinite(min_delta) or min_delta < 0:
            raise UsageError("--min-delta must be a finite number ≥ 0.", usage)
    direction: Direction | None = None
    if "direction" in flags:
        try:
            direction = Direction(flags["direction"].lower())
        except ValueError:
            raise UsageError("--direction must be higher or lower.", usage) from None
    if "metric" not in flags:
        if need_metric and (min_delta is not None or direction is not None):
            raise UsageError("--min-delta and --direction need --metric.", usage)
        return None, direction, min_delta
    try:
        criterion = success_criterion(flags["metric"], direction, min_delta)
    except ValidationError as refused:
        raise UsageError(str(refused), usage) from None
    return criterion.metric, criterion.direction, criterion.min_delta

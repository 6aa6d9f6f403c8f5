"""The gate in MLflow's model registry: the warning about a model that has not passed it."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.model import Experiment
from bot.slack.blocks import escape, escaped


def model_blocked(
    experiment: Experiment,
    model: str,
    version: str,
    aliases: Sequence[str],
    unmet: Sequence[str],
    link: str | None,
) -> str:
    """To the experiment's thread and its project's managers; ``aliases``: those just seen
    on the version (none: it was just registered). ``unmet`` is mlgov's own text."""
    name = f"{escaped(model, 120)} version {escape(version)}"
    shown = f"<{link}|{name}>" if link else name
    head = (
        f"⛔ Model *{shown}* in MLflow comes from *{experiment.key}*"
        f" {escaped(experiment.title, 150)} ({experiment.project}), which has not passed"
        " the review gate."
    )
    if aliases:
        named = ", ".join(f"`{escaped(a, 60)}`" for a in aliases)
        plural = "es" if len(aliases) > 1 else ""
        head += (
            f" It now carries the alias{plural} {named}: an alias on an unreviewed model is"
            " exactly what the gate exists to catch."
        )
    else:
        head += " It was registered before the review passed."
    reasons = "\n".join(f"• {line}" for line in unmet)
    return (
        f"{head}\nNot met yet:\n{reasons}\nmlgov tagged the version `mlgov.gate=blocked` with"
        " these reasons. It never moves aliases or deletes anything in MLflow: whoever set"
        " the alias decides what serves until the review passes."
    )

"""Stale nudges: one DM listing a person's idle experiments."""

from __future__ import annotations

from bot.domain.lifecycle import allowed_steps
from bot.domain.nudges import STALE_AFTER, IdleExperiment
from bot.slack.blocks import clip, escape

LINK_HINT = "add a link with what is happening: `/exp link {key} <url> [label]`"


def _steps(item: IdleExperiment) -> str:
    return ", ".join(allowed_steps(item.experiment.status))


def stale_nudge(items: list[IdleExperiment]) -> str:
    """The DM text: one experiment in a sentence, several as a list."""
    first = items[0]
    e = first.experiment
    if len(items) == 1 and not first.owner_left:
        return clip(
            f"⏰ *{e.key}* {escape(e.title)} has had no activity for {first.idle_days} days"
            f" ({e.status}). Next steps: {_steps(first)} — or " + LINK_HINT.format(key=e.key) + "."
        )
    lines = [
        f"⏰ {len(items)} experiment(s) have had no activity for {STALE_AFTER.days} days or more:"
    ]
    for item in items:
        x = item.experiment
        left = (
            f" Its owner <@{x.owner_id}> is no longer on *{x.project}*." if item.owner_left else ""
        )
        lines.append(
            f"• *{x.key}* {escape(x.title)}: {item.idle_days} days ({x.status}).{left}"
            f" Next steps: {_steps(item)}"
        )
    lines.append("Take a next step, or " + LINK_HINT.format(key="EXP-n") + ".")
    return clip("\n".join(lines))

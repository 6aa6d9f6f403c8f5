"""MLflow runs in Slack messages: thread lines, the owner's Start offer, /exp show's list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.mlflow_runs import LinkedRun, Outcome
from bot.domain.model import Experiment
from bot.mlflow.entities import Run
from bot.slack.blocks import actions, button, escape, escaped, sections, to_dicts
from bot.slack.blocks.experiments import ACTION_PREFIX, BUTTONS

STATUS_ICON = {"RUNNING": "🏃", "SCHEDULED": "⏳", "FINISHED": "🏁", "FAILED": "❌", "KILLED": "⛔"}
OUTCOME_WORDS = {
    Outcome.IMPORTED: "predictions imported",
    Outcome.NO_PREDICTIONS: "no predictions logged",
    Outcome.REFUSED: "predictions refused",
    Outcome.FAILED: "told the thread",
    Outcome.SKIPPED: "skipped",
}
SHOWN = 10


def run_link(url: str, name: str, run_id: str) -> str:
    """The run as a link to its MLflow page, by its name (or its id's start)."""
    return f"<{url}|{escaped(name or run_id[:8], 80)}>"


def started(experiment: Experiment, run: Run, url: str) -> str:
    return (
        f"🏃 MLflow run {run_link(url, run.name, run.run_id)} started for {experiment.key},"
        f" which is still proposed. <@{experiment.owner_id}> can start {experiment.key}"
        " (WIP limits apply)."
    )


def start_offer(experiment: Experiment, run: Run, url: str) -> tuple[str, list[dict[str, Any]]]:
    """The owner's DM: the run started, and Start (the usual step, WIP rules and all)."""
    text = (
        f"MLflow run {run_link(url, run.name, run.run_id)} started for {experiment.key}"
        f" {escape(experiment.title)}, which is still proposed. Start it?"
    )
    label, style = BUTTONS["start"]
    blocks: list[Block] = [
        *sections([text]),
        actions(
            button(label, ACTION_PREFIX + "start", experiment.key, style),
            block_id=f"mlflow-start:{experiment.key}:{run.run_id[:12]}",
        ),
    ]
    return text, to_dicts(blocks)


def ended(experiment: Experiment, run: Run, url: str, problem: str = "") -> str:
    """One thread line: a run that failed, or whose predictions could not be imported."""
    link = run_link(url, run.name, run.run_id)
    if problem:
        return (
            f"⚠️ MLflow run {link} of {experiment.key} finished, but its predictions were not"
            f" imported: {escaped(problem.splitlines()[0], 600)}"
        )
    icon = STATUS_ICON.get(run.status, "❌")
    return f"{icon} MLflow run {link} of {experiment.key} {run.status.lower()}."


def linked_runs(runs: Sequence[LinkedRun]) -> list[Block]:
    """/exp show: the linked runs, newest first, each with its status and a link."""
    if not runs:
        return []
    lines = [f"*MLflow runs* ({len(runs)}{'+' if len(runs) > SHOWN else ''}):"]
    for run in runs[:SHOWN]:
        did = f" · {OUTCOME_WORDS[run.outcome]}" if run.outcome else ""
        if run.evaluation_id is not None:
            did += f" (evaluation #{run.evaluation_id})"
        lines.append(
            f"{STATUS_ICON.get(run.status, '•')} {run_link(run.url, run.name, run.run_id)}"
            f" — {run.status.lower()}{did}"
        )
    return list(sections(lines))

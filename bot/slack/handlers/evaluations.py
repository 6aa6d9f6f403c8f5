"""/exp metrics and /exp baseline handlers."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import BaselineHistory, SetBaseline, ShowMetrics
from bot.domain.parity import Parity
from bot.services import evaluations
from bot.services.ports import Context
from bot.slack.blocks import Reply, reply
from bot.slack.blocks import evaluations as render
from storage.unit_of_work import UnitOfWork


def metrics(uow: UnitOfWork, ctx: Context, cmd: ShowMetrics) -> Reply:
    found = evaluations.metrics(uow, ctx, cmd.number)
    parity = Parity.from_json(found.parity.result) if found.parity else None
    return render.metrics_view(
        found.experiment,
        found.latest,
        found.evaluations,
        found.baseline,
        parity,
        found.compared_with,
    )


def set_baseline(uow: UnitOfWork, ctx: Context, cmd: SetBaseline) -> Reply:
    baseline = evaluations.set_baseline(uow, ctx, cmd.project, cmd.number)
    return reply(
        f"The baseline of {baseline.project} is now EXP-{baseline.experiment_number}"
        f" (its evaluation #{baseline.evaluation_id}); announced in the project channel."
    )


def history(uow: UnitOfWork, ctx: Context, cmd: BaselineHistory) -> Reply:
    return render.baseline_history(cmd.project, evaluations.baseline_history(uow, ctx, cmd.project))


HANDLERS: dict[type, Any] = {
    ShowMetrics: metrics,
    SetBaseline: set_baseline,
    BaselineHistory: history,
}

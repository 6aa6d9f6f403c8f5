"""Stale-experiment nudges (pure): which idle experiments each person is told about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.model import Experiment, Member, Role

STALE_AFTER = timedelta(days=14)


@dataclass(frozen=True)
class IdleExperiment:
    """An experiment nobody has touched for ``idle_days``, as one line of a nudge."""

    experiment: Experiment
    idle_days: int
    # The owner is no longer on the project: the nudge goes to its managers instead.
    owner_left: bool = False


def recipients(
    idle: Iterable[tuple[Experiment, datetime]], members: Sequence[Member], now: datetime
) -> dict[str, list[IdleExperiment]]:
    """Per user of one workspace, the idle experiments to tell them about, oldest first.

    The owner hears of their own; an experiment whose owner has left its project goes to
    the project's managers (else the workspace admins), so no one off the project is
    nudged and no experiment is forgotten.
    """
    actors = {m.user_id: m.as_actor() for m in members}
    told: dict[str, list[IdleExperiment]] = {}
    for experiment, last_activity in idle:
        days = (now - last_activity).days
        owner = actors.get(experiment.owner_id)
        if owner is not None and owner.on_project(experiment.project):
            users = [experiment.owner_id]
            item = IdleExperiment(experiment, days)
        else:
            users = [u for u, a in actors.items() if a.has(Role.MANAGER, experiment.project)]
            users = users or [u for u, a in actors.items() if a.is_admin()]
            item = IdleExperiment(experiment, days, owner_left=True)
        for user in users:
            told.setdefault(user, []).append(item)
    for items in told.values():
        items.sort(key=lambda i: (-i.idle_days, i.experiment.number))
    return told

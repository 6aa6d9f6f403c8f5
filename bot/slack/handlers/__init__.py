"""Command -> use case -> rendered reply, one table per surface area.

Each handler runs inside the unit of work the dispatcher opened and returns a Reply;
the dispatcher commits. Adding a command means a parser rule and an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.services.ports import Context
from bot.slack.blocks import Reply
from bot.slack.handlers import (
    digest,
    evaluations,
    experiments,
    reminders,
    reviews,
    rotation,
    team,
)
from storage.unit_of_work import UnitOfWork

Handler = Callable[[UnitOfWork, Context, Any], Reply]
HANDLERS: dict[type, Handler] = {
    **experiments.HANDLERS,
    **team.HANDLERS,
    **rotation.HANDLERS,
    **reviews.HANDLERS,
    **evaluations.HANDLERS,
    **digest.HANDLERS,
    **reminders.HANDLERS,
}

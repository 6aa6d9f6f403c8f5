"""Snooze buttons under review reminders and stale nudges."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import SnoozeReminder
from bot.services import snoozes
from bot.services.ports import Context
from bot.slack.blocks import Reply
from bot.slack.blocks import snooze as render
from storage.unit_of_work import UnitOfWork


def snooze(uow: UnitOfWork, ctx: Context, cmd: SnoozeReminder) -> Reply:
    done = snoozes.snooze(uow, ctx, cmd.kind, cmd.subject, cmd.choice)
    return render.snoozed(done.what, done.until, ctx.timezone, done.note)


HANDLERS: dict[type, Any] = {SnoozeReminder: snooze}

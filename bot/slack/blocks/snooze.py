"""Snooze buttons under a reminder, and the confirmation of a snooze."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.commands import SnoozeReminder
from bot.domain.snooze import LABELS, SnoozeFor, SnoozeKind
from bot.slack.blocks import Reply, actions, button, reply, section, to_dicts

ACTION_PREFIX = "snooze_"
MAX_VALUE = 2000  # a button's value, in characters


def action_id(choice: SnoozeFor) -> str:
    return f"{ACTION_PREFIX}{choice.value}"


def with_snooze(text: str, kind: SnoozeKind, subject: str) -> list[dict[str, Any]]:
    """``text`` as a section, with Remind me in 2 h / tomorrow / Monday below it."""
    value = f"{kind.value}:{subject}"[:MAX_VALUE]
    buttons = [button(LABELS[choice], action_id(choice), value) for choice in SnoozeFor]
    return to_dicts([section(text), actions(*buttons, block_id="snooze")])


def read_button(action_id: str, value: str) -> SnoozeReminder | None:
    """The snooze a button asks for, or None for a button that is not one of ours."""
    choice = action_id.removeprefix(ACTION_PREFIX)
    kind, _, subject = value.partition(":")
    if choice not in {c.value for c in SnoozeFor} or kind not in {k.value for k in SnoozeKind}:
        return None
    if not subject:
        return None
    return SnoozeReminder(SnoozeKind(kind), subject, SnoozeFor(choice))


def snoozed(what: str, until: datetime, timezone: str, note: str) -> Reply:
    """The answer to a snooze button."""
    when = until.astimezone(ZoneInfo(timezone))
    return reply(f"⏰ I'll remind you of {what} on {when:%a %d %b at %H:%M} ({timezone}). {note}")

"""Buttons: experiment steps (exp_*), review decisions (review_*), swap offers (rotation_*)
and snoozes (snooze_*), in messages or on the Home tab, stored, then acked
(bot.slack.inbox_work runs them)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltResponse

from bot.slack.blocks.experiments import ACTION_PREFIX
from bot.slack.blocks.snooze import ACTION_PREFIX as SNOOZE_PREFIX
from bot.slack.listeners.intake import Intake, request_key
from bot.slack.requests import installing_team

ACTIONS = re.compile(f"^({ACTION_PREFIX}|review_|rotation_|{SNOOZE_PREFIX})")


def register(app: App, intake: Intake) -> None:
    def on_button(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
        user = body.get("user") or {}
        team_id = installing_team(body)
        key = request_key(team_id, str(user.get("id") or ""), str(body.get("trigger_id")), body)
        return intake.take(ack, "action", team_id, key, body)

    app.action(ACTIONS)(on_button)

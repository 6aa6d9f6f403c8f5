"""Slash commands: /exp, /review, /rotation, /digest and /mlgov, stored, then acked."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltResponse

from bot.slack.listeners.intake import Intake, request_key
from bot.slack.requests import installing_team

COMMANDS = ("/exp", "/mlgov", "/rotation", "/review", "/digest")


def register(app: App, intake: Intake) -> None:
    def on_command(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
        team_id = installing_team(body)
        user = str(body.get("user_id") or "")
        key = request_key(team_id, user, str(body.get("trigger_id") or ""), body)
        return intake.take(ack, "command", team_id, key, body)

    for name in COMMANDS:
        app.command(name)(on_command)

"""Slash commands: /exp and /mlgov."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.listeners.replies import show
from bot.slack.workspace_admins import WorkspaceAdmins

COMMANDS = ("/exp", "/mlgov")


def register(app: App, dispatcher: Dispatcher, admins: WorkspaceAdmins) -> None:
    def handle(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()  # first: everything below may take longer than Slack's 3 seconds
        user = body["user_id"]
        origin = Origin(
            body["team_id"],
            user,
            admins.is_admin(client, user) if body["command"] == "/mlgov" else False,
        )
        reply = dispatcher.command(origin, body["command"], body.get("text", ""))
        show(reply, respond, client, body.get("trigger_id"))

    for name in COMMANDS:
        app.command(name)(handle)

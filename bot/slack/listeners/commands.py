"""Slash commands: /exp, /review, /rotation and /mlgov."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.listeners.replies import ack_now, show
from bot.slack.requests import installing_team
from bot.slack.workspace_admins import WorkspaceAdmins

COMMANDS = ("/exp", "/mlgov", "/rotation", "/review", "/digest")
CONFIGURING = frozenset({"/mlgov", "/rotation"})


def register(app: App, dispatcher: Dispatcher, admins: WorkspaceAdmins) -> None:
    def handle(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        origin = Origin(installing_team(body), body["user_id"], channel=body.get("channel_id", ""))
        # Only configuration asks Slack whether the user is a workspace admin.
        if body["command"] in CONFIGURING:
            origin = admins.ask(client, origin)
        reply = dispatcher.command(origin, body["command"], body.get("text", ""))
        show(reply, respond, client, body.get("trigger_id"))

    for name in COMMANDS:
        app.command(name)(ack=ack_now, lazy=[handle])

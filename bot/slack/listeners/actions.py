"""Buttons: experiment steps (exp_*) and review decisions (review_*), in messages or on the
Home tab (which brings no response_url: see listeners.home)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.slack.blocks.experiments import ACTION_PREFIX
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.listeners.home import from_a_view, show_in_view
from bot.slack.listeners.replies import ack_now, show
from bot.slack.requests import installing_team

ACTIONS = re.compile(f"^({ACTION_PREFIX}|review_)")


def register(app: App, dispatcher: Dispatcher) -> None:
    def on_button(
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        client: WebClient,
    ) -> None:
        origin = Origin(installing_team(body), body["user"]["id"])
        reply = dispatcher.action(origin, action["action_id"], action.get("value", ""))
        if from_a_view(body):
            show_in_view(reply, dispatcher, client, origin, body)
        else:
            show(reply, respond, client, body.get("trigger_id"))

    app.action(ACTIONS)(ack=ack_now, lazy=[on_button])

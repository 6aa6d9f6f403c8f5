"""The Bolt app (HTTP or Socket Mode), with the Slack client passed in."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.dispatch import Dispatcher
from bot.slack.listeners import register
from bot.slack.workspace_admins import WorkspaceAdmins


def build_bolt_app(client: WebClient, signing_secret: str | None, dispatcher: Dispatcher) -> App:
    """A Bolt app whose listeners ack first and do the work after (never before) the ack."""
    app = App(
        client=client,
        signing_secret=signing_secret or "unused-in-socket-mode",
        process_before_response=False,
        logger=logging.getLogger("mlgov.bolt"),
    )
    register(app, dispatcher, WorkspaceAdmins())
    return app


def web_client(token: str, api_url: str) -> WebClient:
    """The one WebClient of the process; every Web API call goes to ``api_url``."""
    return WebClient(token=token, base_url=api_url, timeout=10)


def socket_mode_handler(bolt_app: App, app_token: str) -> Any:
    """Socket Mode over slack_sdk's built-in WebSocket client (no extra dependency)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(bolt_app, app_token)

"""Events of the app's install: ``app_uninstalled`` and ``tokens_revoked`` pause the workspace."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.services.installs import INSTALL_EVENTS, on_install_event
from bot.slack.dispatch import Dispatcher


def register(app: App, dispatcher: Dispatcher) -> None:
    def on_install(body: dict[str, Any], event: dict[str, Any]) -> None:
        # One short write before the 200: a redelivery finds the workspace paused already.
        team_id = str(body.get("team_id") or "")
        on_install_event(dispatcher.db, team_id, event, dispatcher.clock())

    for name in INSTALL_EVENTS:
        app.event(name)(on_install)

"""Thin Bolt listeners: store the request in the inbox and ack; forms run before the ack.
One module per surface."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.dispatch import Dispatcher
from bot.slack.listeners import actions, commands, events, views
from bot.slack.listeners.intake import Intake


def register(app: App, dispatcher: Dispatcher) -> None:
    intake = Intake(dispatcher.db, dispatcher.clock)
    commands.register(app, intake)
    events.register(app, intake)
    actions.register(app, intake)
    views.register(app, dispatcher)

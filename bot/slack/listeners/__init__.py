"""Thin Bolt listeners: ack, hand over to the dispatcher, reply. One module per surface."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.dispatch import Dispatcher
from bot.slack.listeners import actions, commands, events, installs, views
from bot.slack.workspace_admins import WorkspaceAdmins


def register(app: App, dispatcher: Dispatcher, admins: WorkspaceAdmins) -> None:
    commands.register(app, dispatcher, admins)
    events.register(app, dispatcher, admins)
    actions.register(app, dispatcher)
    views.register(app, dispatcher)
    installs.register(app, dispatcher)

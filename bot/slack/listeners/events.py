"""Events: ``@mlgov <command line>`` mentions, once per event id; the Home tab opened."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.domain.errors import StorageError
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.edits import answer_edit, is_edit
from bot.slack.files import SlackFiles
from bot.slack.listeners.home import publish_home_now
from bot.slack.listeners.replies import ack_now
from bot.slack.requests import installing_team
from bot.slack.workspace_admins import WorkspaceAdmins

log = logging.getLogger(__name__)
EVENTS = ("app_mention", "app_home_opened")
ATTEMPTS = 3


def register(app: App, dispatcher: Dispatcher, admins: WorkspaceAdmins) -> None:
    def on_mention(
        body: dict[str, Any], event: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        # Slack has its 200 already; a database hiccup is retried here, since Slack
        # will not redeliver an event we acknowledged.
        if event.get("bot_id") or event.get("user") in (None, context.bot_user_id):
            return
        if is_edit(event):
            return answer_edit(dispatcher, installing_team(body), body["event_id"], event)
        # A mention may configure (@mlgov mlgov project add …): workspace admins count.
        origin = admins.ask(
            client, Origin(installing_team(body), event["user"], channel=event["channel"])
        )
        thread = event.get("thread_ts") or event["ts"]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                dispatcher.mention(
                    origin,
                    body["event_id"],
                    event["channel"],
                    thread,
                    event.get("text", ""),
                    context.bot_user_id,
                    event.get("files") or [],
                    SlackFiles(client),
                )
                return
            except StorageError:
                log.warning("mention %s: storage failed (attempt %d)", body["event_id"], attempt)
                time.sleep(attempt)
        log.error("mention %s dropped after %d attempts", body["event_id"], ATTEMPTS)

    app.event("app_mention")(ack=ack_now, lazy=[on_mention])

    def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        # The Messages tab sends this event too; it is answered 200 and nothing more.
        # A redelivery publishes the same Home again, which is harmless.
        if event.get("tab") != "home" or not event.get("user"):
            return
        publish_home_now(dispatcher, installing_team(body), event["user"])

    app.event("app_home_opened")(ack=ack_now, lazy=[on_home_opened])

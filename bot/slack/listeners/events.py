"""Events (``@mlgov`` mentions, the Home tab opened, ...), stored once per event id, then
acked; a redelivery stores nothing and is acked all the same."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltResponse

from bot.slack.inbox_events import EVENT_HANDLERS
from bot.slack.listeners.intake import Intake, request_key
from bot.slack.requests import installing_team

# Every subscribed event needs a listener: Bolt answers an unhandled one with 404.
EVENTS = tuple(EVENT_HANDLERS)


def register(app: App, intake: Intake) -> None:
    def on_event(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
        team_id = installing_team(body)
        event_id = body.get("event_id")
        key = str(event_id) if event_id else request_key(team_id, "", "", body)
        return intake.take(ack, "event", team_id, key, body)

    for name in EVENTS:
        app.event(name)(on_event)

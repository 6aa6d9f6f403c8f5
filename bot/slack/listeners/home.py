"""The Home tab: publish it, and answer buttons pressed on it (they bring no response_url)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import StorageError
from bot.services.home import publish_home
from bot.slack.blocks import Reply
from bot.slack.dispatch import Dispatcher, Origin

log = logging.getLogger(__name__)
ATTEMPTS = 3
FORM_TOO_LATE = ":warning: The form could not be opened in time; please press the button again."


def publish_home_now(dispatcher: Dispatcher, team_id: str, user_id: str) -> None:
    """Queue the person's Home (they are looking at it); a database hiccup is retried."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            publish_home(
                dispatcher.db,
                dispatcher.notices,
                dispatcher.clock(),
                dispatcher.timezone,
                team_id,
                user_id,
                seen=True,
            )
            return
        except StorageError:
            log.warning("home of %s: storage failed (attempt %d)", user_id, attempt)
            time.sleep(attempt)
    log.error("home of %s not published after %d attempts", user_id, ATTEMPTS)


def from_a_view(body: dict[str, Any]) -> bool:
    """Whether a button was pressed in a view (the Home tab), not in a message."""
    return (body.get("container") or {}).get("type") == "view"


def show_in_view(
    reply: Reply, dispatcher: Dispatcher, client: WebClient, origin: Origin, body: dict[str, Any]
) -> None:
    """A form opens as from a message; a refusal comes as a DM; the Home then shows the new
    state (after a form, its submission's change republishes it through the home job)."""
    trigger_id = body.get("trigger_id")
    if reply.modal is not None and trigger_id:
        try:
            client.views_open(trigger_id=trigger_id, view=reply.modal)
        except SlackApiError as exc:  # an expired trigger: say so instead of failing silently
            log.warning("views.open failed: %s", exc.response.get("error"))
            _direct_message(client, origin.user_id, FORM_TOO_LATE, [])
        return
    if reply.failed:
        _direct_message(client, origin.user_id, reply.text, reply.blocks)
    if (body.get("view") or {}).get("type") == "home":
        publish_home_now(dispatcher, origin.team_id, origin.user_id)


def _direct_message(
    client: WebClient, user_id: str, text: str, blocks: list[dict[str, Any]]
) -> None:
    # Posting to a user id lands in the app's Messages tab with that user.
    try:
        client.chat_postMessage(channel=user_id, text=text, blocks=blocks or None)
    except SlackApiError as exc:
        log.warning("DM to %s failed: %s", user_id, exc.response.get("error"))

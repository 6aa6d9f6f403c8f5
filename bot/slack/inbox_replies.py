"""How a worker answers a stored request: outbox messages to its response_url or a DM.

Replies go through the outbox, committed with the inbox row's settlement, so a reply
survives a crash (a response_url stays valid 30 minutes). Only a form is opened directly:
its trigger_id is good for 3 seconds, too short to wait for the outbox, or for the worker
threads busy with other requests: such a request is stored urgent (``answered_by_form``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.model import RESPONSE_URL, OutgoingMessage
from bot.slack.blocks import Reply, error
from bot.slack.dispatch import button_opens_form, command_opens_form

log = logging.getLogger(__name__)
# A trigger_id is good for 3 s from the click; after this age, opening a form is not tried.
FRESH_TRIGGER = timedelta(seconds=2.5)
FORM_TOO_LATE = "The form could not be opened in time; please try again."
PARKED = (
    "I could not complete this after {attempts} attempts, and nothing more will be tried:"
    " {what}. Please try again later; if it keeps failing, tell your mlgov admin."
)


@dataclass(frozen=True)
class ReplyTo:
    """Where a request's answer goes: its response_url, or else a DM to the user."""

    team_id: str
    user_id: str
    response_url: str | None
    # A success shows elsewhere (a button on the Home tab): only refusals are sent.
    quiet: bool = False

    def messages(self, reply: Reply) -> list[OutgoingMessage]:
        """The outbox message(s) that show ``reply`` to its user."""
        if not self.user_id or (self.quiet and not reply.failed):
            return []
        if self.response_url:
            payload = {
                "url": self.response_url,
                "text": reply.text,
                "blocks": reply.blocks,
                "response_type": "ephemeral" if reply.ephemeral else "in_channel",
                "replace_original": False,
            }
            # One "channel" per URL: replies to one request keep their order, and one
            # slow URL holds back no one else's.
            channel = "response:" + hashlib.sha256(self.response_url.encode()).hexdigest()[:40]
            return [OutgoingMessage(self.team_id, channel, RESPONSE_URL, payload)]
        # No response_url (an event, a button on the Home tab): a direct message, which
        # lands in the app's Messages tab with that user.
        payload = {"channel": self.user_id, "text": reply.text, "blocks": reply.blocks}
        return [OutgoingMessage(self.team_id, self.user_id, "chat.postMessage", payload)]


def answered_by_form(kind: str, body: dict[str, Any]) -> bool:
    """Whether a Slack request (its body checked by bot.slack.requests) is answered by
    opening a form: the inbox then runs it ahead of other work (storage.inbox, urgent)."""
    if kind == "command":
        return command_opens_form(body["command"], body.get("text", ""))
    if kind == "action":
        return button_opens_form(body["actions"][0]["action_id"])
    return False  # events: a mention never opens a form (Dispatcher.mention)


def open_form(
    client: WebClient, reply: Reply, trigger_id: str | None, received_at: datetime, now: datetime
) -> Reply | None:
    """Open ``reply.modal`` while the trigger is fresh: None when it opened, else what to
    tell the user instead."""
    if not trigger_id or now - received_at > FRESH_TRIGGER:
        return error(FORM_TOO_LATE)
    assert reply.modal is not None
    try:
        client.views_open(trigger_id=trigger_id, view=reply.modal)
    except SlackApiError as exc:  # an expired trigger: say so instead of failing silently
        log.warning("views.open failed: %s", exc.response.get("error"))
        return error(FORM_TOO_LATE)
    return None


def parked(attempts: int, what: str) -> Reply:
    """What a user is told when their request is given up."""
    return error(PARKED.format(attempts=attempts, what=what))


def describe(body: dict[str, Any]) -> str:
    """The request in the user's words, for the message that it was given up."""
    if body.get("command"):
        line = " ".join(filter(None, (body["command"], str(body.get("text", "")).strip())))
        return f"`{line}`"
    actions = body.get("actions") or [{}]
    if actions[0].get("action_id"):
        return f"the button you pressed ({actions[0]['action_id']})"
    text = (body.get("event") or {}).get("text") or ""
    return f"your message “{text[:100]}”" if text else "your request"

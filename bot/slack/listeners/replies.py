"""Showing a Reply: a form opened with the trigger, or an ephemeral response."""

from __future__ import annotations

import logging

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import Reply

log = logging.getLogger(__name__)


def ack_now(ack: Ack) -> None:
    """Acknowledge on the request's own thread; the work runs afterwards as a lazy
    listener, so a busy worker pool never delays an ack past Slack's 3 seconds."""
    ack()


def show(reply: Reply, respond: Respond, client: WebClient, trigger_id: str | None) -> None:
    if reply.modal is not None and trigger_id:
        try:
            client.views_open(trigger_id=trigger_id, view=reply.modal)
            return
        except SlackApiError as exc:  # an expired trigger: say so instead of failing silently
            log.warning("views.open failed: %s", exc.response.get("error"))
            respond(
                text=":warning: The form could not be opened in time; please try again.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
    respond(
        text=reply.text,
        blocks=reply.blocks,
        response_type="ephemeral" if reply.ephemeral else "in_channel",
        replace_original=False,
    )

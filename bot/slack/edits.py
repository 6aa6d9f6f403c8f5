"""Edited messages are not new commands (SPEC §9).

Editing a message that mentions @mlgov makes Slack send a new ``app_mention`` with a new
``event_id`` and an ``edited`` field, so the dedup by event id does not catch it; running
it would repeat the command (a second experiment, a second evaluation). The editor is
told once, to them alone, that edits are not re-run.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.domain.errors import StorageError
from bot.domain.model import OutgoingMessage
from bot.slack.blocks import reply
from bot.slack.dispatch import Dispatcher

log = logging.getLogger(__name__)
NOT_RERUN = "Edits are not re-run: to run a command again, send it in a new message."


def is_edit(event: dict[str, Any]) -> bool:
    """Whether an event reports an edit rather than a new message."""
    return bool(event.get("edited")) or event.get("subtype") == "message_changed"


def answer_edit(dispatcher: Dispatcher, team_id: str, event_id: str, event: dict[str, Any]) -> None:
    """Tell the editor, in the thread and once per event id, that the edit was not run."""
    user, channel = event.get("user"), event.get("channel")
    if not user or not channel:
        return
    answer = reply(NOT_RERUN)
    payload = {
        "channel": channel,
        "thread_ts": event.get("thread_ts") or event.get("ts"),
        "user": user,
        "text": answer.text,
        "blocks": answer.blocks,
    }
    try:
        with dispatcher.db.write() as uow:
            now = dispatcher.clock()
            if uow.events.claim(team_id, event_id, now):  # a redelivery says nothing more
                message = OutgoingMessage(team_id, channel, "chat.postEphemeral", payload)
                uow.outbox.add(message, now)
                uow.commit()
    except StorageError:
        log.warning("edit %s: storage failed; the editor is not told", event_id)

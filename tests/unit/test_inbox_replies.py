"""Where a stored request's answer goes: its response_url while Slack keeps it, else a DM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.slack.blocks import reply
from bot.slack.inbox_work import reply_to
from storage.inbox import InboxItem

RECEIVED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/commands/T1/1/abc"
COMMAND = {"user_id": "UALICE", "command": "/exp", "text": "list", "response_url": URL}
BUTTON = {"user": {"id": "UALICE"}, "container": {"type": "message"}, "response_url": URL}


@pytest.mark.parametrize(("kind", "body"), [("command", COMMAND), ("action", BUTTON)])
@pytest.mark.parametrize(
    ("late", "method", "channel"),
    [
        (timedelta(seconds=1), "response_url", None),
        (timedelta(minutes=24), "response_url", None),
        # A restart after a long outage: Slack has let the response_url go (30 minutes).
        (timedelta(minutes=26), "chat.postMessage", "UALICE"),
        (timedelta(hours=3), "chat.postMessage", "UALICE"),
    ],
)
def test_an_answer_goes_by_dm_once_the_response_url_has_expired(
    kind: str, body: dict[str, object], late: timedelta, method: str, channel: str | None
) -> None:
    item = InboxItem(1, "T1", kind, body, RECEIVED, 1)
    (message,) = reply_to(item, RECEIVED + late).messages(reply("EXP-1 created"))
    assert message.method == method
    assert message.payload["text"] == "EXP-1 created"
    if channel is not None:
        assert message.payload["channel"] == channel
    else:
        assert message.payload["url"] == URL

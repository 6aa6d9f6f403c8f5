"""An edited mention is answered once per event id, and never runs (both databases)."""

from __future__ import annotations

from bot.slack.dispatch import Dispatcher
from bot.slack.edits import NOT_RERUN, answer_edit, is_edit
from tests.integration.conftest import TEAM, Team

EDITED = {
    "type": "app_mention",
    "user": "UALICE",
    "text": "<@UBOT> exp new churn Again --hypothesis h",
    "ts": "1700000100.000100",
    "channel": "C-CHURN",
    "edited": {"user": "UALICE", "ts": "1700000160.000100"},
}


def test_the_editor_is_told_once_per_event_id(team: Team) -> None:
    dispatcher = Dispatcher(team.db, team.clock, team.notices)
    before = len(team.outbox_rows())
    answer_edit(dispatcher, TEAM, "Ev0EDIT", EDITED)
    answer_edit(dispatcher, TEAM, "Ev0EDIT", EDITED)  # Slack's retry of the same delivery
    rows = team.outbox_rows()[before:]
    assert len(rows) == 1
    assert rows[0].method == "chat.postEphemeral"
    assert rows[0].payload["user"] == "UALICE" and NOT_RERUN in rows[0].payload["text"]
    assert rows[0].payload["thread_ts"] == EDITED["ts"]
    answer_edit(dispatcher, TEAM, "Ev0EDIT2", EDITED)  # a second edit is a new event
    assert len(team.outbox_rows()[before:]) == 2
    assert team.read(lambda uow: uow.experiments.find(TEAM)) == []


def test_what_counts_as_an_edit() -> None:
    assert is_edit(EDITED)
    assert is_edit({"type": "message", "subtype": "message_changed", "message": {}})
    assert not is_edit({**EDITED, "edited": None})
    assert not is_edit({"type": "app_mention", "text": "hi"})

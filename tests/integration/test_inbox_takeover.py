"""A worker that stalled past its lease while another took its request over: the request
is answered once and takes effect once, and an evaluation is computed once.

The first worker is held at a gate (a pause: a stop-the-world collection, a suspended
VM); the fake clock moves past its lease, a second worker claims the row and runs it,
then the first is let go. Replies go to the fake Slack's response_url over HTTP.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.services import inbox_worker
from bot.services.inbox_worker import InboxWorker
from bot.slack.app import web_client
from bot.slack.blocks import Reply
from bot.slack.dispatch import Dispatcher, Origin, Settle
from bot.slack.inbox_work import InboxRunner
from storage.inbox import InboxStore, LeaseLost
from storage.models import EvaluationRow, ExperimentRow
from tests.fakes.slack_api import FakeSlack
from tests.integration.conftest import TEAM, Team

CRITERION = "--hypothesis tenure predicts churn --metric auc --min-delta 0.01"


class Stalls(Dispatcher):
    """A Dispatcher whose commands wait at ``gate`` before they run."""

    def __init__(self, team: Team, gate: threading.Event) -> None:
        super().__init__(team.db, team.clock, team.notices)
        self.gate = gate
        self.stalled = threading.Event()

    def command(
        self, origin: Origin, command: str, text: str, settle: Settle | None = None
    ) -> Reply:
        self.stalled.set()
        assert self.gate.wait(30)
        return super().command(origin, command, text, settle)


def runner(dispatcher: Dispatcher, fake: FakeSlack, store: InboxStore) -> InboxRunner:
    return InboxRunner(dispatcher, web_client("xoxb-test", fake.api_url), store, "UBOT")


def count(team: Team, row: Any) -> int:
    return team.read(lambda uow: int(uow.session.scalar(select(func.count()).select_from(row))))


def store(team: Team, key: str, kind: str, body: dict[str, Any]) -> None:
    with team.db.write() as uow:
        uow.inbox.add(TEAM, key, kind, body, team.clock())
        uow.commit()


@pytest.mark.parametrize(
    ("text", "created"), [("list", 0), ("new churn Faster trees", 1)], ids=["read", "write"]
)
def test_a_request_taken_over_from_a_stalled_worker_is_answered_once(
    team: Team,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    text: str,
    created: int,
) -> None:
    # The first worker's heartbeat is paused with it (else it would keep its lease).
    monkeypatch.setattr(inbox_worker, "HEARTBEAT_SECONDS", 3600.0)
    url = fake_slack.response_url("k1")
    command = {"command": "/exp", "text": text, "user_id": "UALICE", "response_url": url}
    store(team, "k1", "command", command)
    gate = threading.Event()
    stalls = Stalls(team, gate)
    first_store = InboxStore(team.db, "w1")
    first = InboxWorker(first_store, runner(stalls, fake_slack, first_store), team.clock, 1, 60)
    first.start()
    try:
        assert stalls.stalled.wait(30)
        team.clock.advance(seconds=11)  # past the first worker's lease
        second = InboxStore(team.db, "w2")
        (item,) = second.claim(team.clock())
        plain = Dispatcher(team.db, team.clock, team.notices)
        runner(plain, fake_slack, second).run(item)
    finally:
        gate.set()
        first.stop(drain_seconds=30)

    posted = [c for c in fake_slack.calls("response_url") if c.params["_key"] == "k1"]
    queued = [r for r in team.outbox_rows() if r.method == "response_url"]
    assert len(posted) + len(queued) == 1  # one answer, the second worker's
    assert count(team, ExperimentRow) == created
    assert first_store.counts() == {"done": 1}
    assert "row 1 was taken over by another worker" in caplog.text


def csv_rows(rows: int = 200) -> bytes:
    lines = ["id,y_true,y_score"]
    for n in range(rows):
        label = int(n % 3 == 0)
        lines.append(f"r{n},{label},{(0.6 if label else 0.3) + (n % 7) / 20:.3f}")
    return ("\n".join(lines) + "\n").encode()


def test_an_upload_taken_over_is_not_computed_by_the_worker_that_lost_it(
    team: Team, fake_slack: FakeSlack
) -> None:
    dispatcher = Dispatcher(team.db, team.clock, team.notices)
    for line in (f"new churn Tenure features {CRITERION}", "start EXP-1"):
        assert not dispatcher.command(Origin(TEAM, "UALICE"), "/exp", line).failed
    url = fake_slack.host_file(f"{TEAM}-F1/candidate.csv", csv_rows())
    shared = {"id": "F1", "name": "candidate.csv", "size": len(csv_rows()), "url_private": url}
    event = {
        "type": "app_mention",
        "user": "UALICE",
        "text": "<@UBOT> eval EXP-1",
        "ts": "1700000000.000100",
        "channel": "C-CHURN",
        "files": [shared],
    }
    store(team, "Ev1", "event", {"event_id": "Ev1", "event": event})
    first, second = InboxStore(team.db, "w1"), InboxStore(team.db, "w2")
    (stale,) = first.claim(team.clock())
    team.clock.advance(seconds=11)  # the first worker stalled before it began
    (item,) = second.claim(team.clock())
    messages = len(team.outbox_rows())

    with pytest.raises(LeaseLost):  # after the download, before any computing
        runner(dispatcher, fake_slack, first).run(stale)
    assert count(team, EvaluationRow) == 0
    assert len(team.outbox_rows()) == messages  # not even "computing…"

    runner(dispatcher, fake_slack, second).run(item)
    assert count(team, EvaluationRow) == 1
    assert second.counts() == {"done": 1}

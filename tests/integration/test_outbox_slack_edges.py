"""Slack's edge cases in the outbox: uninstalls and refused tokens pause a workspace, channel
errors rejoin or tell the managers once, and a 429 holds one method of one workspace."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import Row, select

from bot.domain.commands import NewExperiment
from bot.domain.model import OutgoingMessage
from bot.services.delivery import DeliveryFailed, OutboxDispatcher
from bot.services.experiments import create_experiment, take_step
from bot.services.installs import on_install_event
from bot.services.nudges import run_stale_nudges
from storage.models import AuditRow, OutboxHoldRow, OutboxRow
from storage.outbox import OutboxStore
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock, Team

OTHER = "T0002"


class EdgeSlack:
    """A SlackApi double: failures scripted per (method, channel); auth.test per team."""

    def __init__(self, team_id: str = TEAM) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[tuple[str, str], list[DeliveryFailed]] = defaultdict(list)
        self.token_team: str | None = team_id  # None: auth.test refuses the token
        self._lock = threading.Lock()
        self._ts = 0

    def fail(self, method: str, channel: str, *failures: DeliveryFailed) -> None:
        self.failures[(method, channel)].extend(failures)

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, dict(payload)))
            if method == "auth.test":
                if self.token_team is None:
                    raise DeliveryFailed("invalid_auth", permanent=True)
                return {"ok": True, "team_id": self.token_team}
            scripted = self.failures[(method, payload.get("channel", ""))]
            if scripted:
                raise scripted.pop(0)
            self._ts += 1
            return {"ok": True, "channel": payload.get("channel"), "ts": f"1767.{self._ts:06d}"}

    def texts(self, method: str = "chat.postMessage") -> list[str]:
        return [p.get("text", "") for m, p in self.calls if m == method]


def _enqueue(db: Database, clock: Clock, *messages: tuple[str, str, str, str]) -> None:
    """Queue (team, channel, method, text) messages in one transaction."""
    with db.write() as uow:
        for team, channel, method, text in messages:
            uow.workspaces.ensure(team, clock())
            payload = {"channel": channel, "text": text}
            uow.outbox.add(OutgoingMessage(team, channel, method, payload), clock())
        uow.commit()


def _rows(db: Database) -> dict[str, Row[Any]]:
    with db.read() as uow:
        rows = uow.session.execute(select(*OutboxRow.__table__.columns)).all()
    return {r.payload["text"]: r for r in rows}


def _audit(db: Database, action: str) -> list[Row[Any]]:
    with db.read() as uow:
        columns = AuditRow.__table__.columns
        return list(uow.session.execute(select(*columns).where(AuditRow.action == action)).all())


def _dispatcher(db: Database, slack: EdgeSlack, clock: Clock) -> OutboxDispatcher:
    return OutboxDispatcher(OutboxStore(db, "w1"), slack, clock)


# --- 429: per method and workspace --------------------------------------------------------


def test_a_429_holds_that_method_of_that_workspace_and_nothing_else(
    db: Database, clock: Clock
) -> None:
    _enqueue(
        db,
        clock,
        (TEAM, "CA1", "chat.postMessage", "a1"),
        (TEAM, "CA2", "chat.update", "a-update"),
        (TEAM, "CA3", "chat.postMessage", "a3"),
        (OTHER, "CB1", "chat.postMessage", "b1"),
    )
    slack = EdgeSlack()
    slack.fail("chat.postMessage", "CA1", DeliveryFailed("ratelimited", retry_after=30))
    dispatcher = _dispatcher(db, slack, clock)

    assert dispatcher.deliver_due() == 2

    # a3 (another channel of the same workspace) was not even tried: it would meet a 429.
    assert slack.texts() == ["a1", "b1"]
    assert slack.texts("chat.update") == ["a-update"]
    rows = _rows(db)
    assert rows["a3"].attempts == 0 and rows["a3"].sent_at is None
    clock.advance(seconds=29)
    assert dispatcher.deliver_due() == 0
    _enqueue(
        db, clock, (TEAM, "CA4", "chat.postMessage", "a4"), (OTHER, "CB2", "chat.postMessage", "b2")
    )
    assert dispatcher.deliver_due() == 1  # b2; a4 waits like the others
    clock.advance(seconds=1)
    assert dispatcher.deliver_due() == 3
    assert slack.texts() == ["a1", "b1", "b2", "a1", "a3", "a4"]
    assert not any(r.dead for r in _rows(db).values())


def test_a_429_seen_by_one_worker_holds_the_method_for_another(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, (TEAM, "CA1", "chat.postMessage", "a1"))
    slack = EdgeSlack()
    slack.fail("chat.postMessage", "CA1", DeliveryFailed("ratelimited", retry_after=30))
    assert _dispatcher(db, slack, clock).deliver_due() == 0
    _enqueue(db, clock, (TEAM, "CA2", "chat.postMessage", "a2"))

    other_worker = OutboxDispatcher(OutboxStore(db, "w2"), slack, clock)
    assert other_worker.deliver_due() == 0
    assert slack.texts() == ["a1"]


# --- refused tokens and uninstalls --------------------------------------------------------


def test_a_refused_token_pauses_the_workspace_instead_of_burying_its_messages(
    db: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    _enqueue(
        db,
        clock,
        (TEAM, "CA1", "chat.postMessage", "a1"),
        (TEAM, "CA2", "chat.postMessage", "a2"),
        (OTHER, "CB1", "chat.postMessage", "b1"),
        (TEAM, "CA1", "chat.postMessage", "a1-second"),
    )
    slack = EdgeSlack(team_id=OTHER)  # this token belongs to the other workspace
    slack.fail("chat.postMessage", "CA1", DeliveryFailed("token_revoked", permanent=True))
    dispatcher = _dispatcher(db, slack, clock)

    with caplog.at_level(logging.ERROR, logger="bot.services.installs"):
        assert dispatcher.deliver_due() == 1
        clock.advance(minutes=10)
        _enqueue(db, clock, (TEAM, "CA3", "chat.postMessage", "a3"))
        assert dispatcher.deliver_due() == 0

    assert slack.texts() == ["a1", "b1"]  # a2 and a3 waited instead of failing too
    rows = _rows(db)
    assert not any(r.dead for r in rows.values())
    assert all(rows[t].sent_at is None for t in ("a1", "a2", "a3", "a1-second"))
    told = [r for r in caplog.records if "paused" in r.getMessage()]
    assert len(told) == 1 and TEAM in told[0].getMessage()
    assert "SLACK_BOT_TOKEN" in told[0].getMessage()
    [paused] = _audit(db, "workspace_paused")
    assert paused.team_id == TEAM and paused.detail == {"reason": "token_revoked"}

    # Reinstalled: the token now works for the workspace, and everything goes out, in
    # order within each channel (the order across channels is not promised).
    slack.token_team = TEAM
    clock.advance(minutes=5)
    assert dispatcher.deliver_due() == 4
    resumed = slack.texts()[2:]
    assert sorted(resumed) == ["a1", "a1-second", "a2", "a3"]
    assert resumed.index("a1") < resumed.index("a1-second")
    assert len(_audit(db, "workspace_resumed")) == 1


def test_a_paused_workspace_stays_paused_while_its_token_is_refused(
    db: Database, clock: Clock
) -> None:
    _enqueue(db, clock, (TEAM, "CA1", "chat.postMessage", "a1"))
    on_install_event(db, TEAM, {"type": "app_uninstalled"}, clock())
    slack = EdgeSlack()
    slack.token_team = None
    dispatcher = _dispatcher(db, slack, clock)
    for _ in range(3):
        assert dispatcher.deliver_due() == 0
        clock.advance(minutes=5)
    assert slack.texts() == []
    assert [m for m, _ in slack.calls] == ["auth.test"] * 3  # once per 5 minutes
    assert not _rows(db)["a1"].dead


def test_messages_that_waited_out_a_long_pause_still_get_their_day_of_retries(
    db: Database, clock: Clock
) -> None:
    _enqueue(db, clock, (TEAM, "CA1", "chat.postMessage", "a1"))
    on_install_event(db, TEAM, {"type": "app_uninstalled"}, clock())
    slack = EdgeSlack()
    slack.token_team = None
    dispatcher = _dispatcher(db, slack, clock)
    assert dispatcher.deliver_due() == 0
    clock.advance(days=3)
    slack.token_team = TEAM
    slack.fail("chat.postMessage", "CA1", DeliveryFailed("HTTP 503"))

    assert dispatcher.deliver_due() == 0  # resumed; Slack answered 503 this time

    assert not _rows(db)["a1"].dead
    clock.advance(seconds=1)
    assert dispatcher.deliver_due() == 1


@pytest.mark.parametrize(
    ("event", "pauses"),
    [
        ({"type": "app_uninstalled"}, True),
        ({"type": "tokens_revoked", "tokens": {"oauth": ["UALICE"], "bot": ["UBOT"]}}, True),
        ({"type": "tokens_revoked", "tokens": {"oauth": ["UALICE"]}}, False),
        ({"type": "tokens_revoked", "tokens": {"oauth": ["UALICE"], "bot": []}}, False),
        ({"type": "tokens_revoked"}, False),
    ],
)
def test_an_uninstall_pauses_jobs_and_keeps_data_until_the_token_works_again(
    team: Team, clock: Clock, event: dict[str, Any], pauses: bool
) -> None:
    experiment = team.run(
        "alice", create_experiment, NewExperiment("churn", "Forgotten", "h", "auc")
    )
    team.run("alice", take_step, experiment.number, "start")
    before = len(team.outbox_rows())

    assert on_install_event(team.db, TEAM, event, clock()) is pauses
    assert on_install_event(team.db, TEAM, event, clock()) is False  # a redelivery

    later = clock.advance(days=15)
    nudged = run_stale_nudges(team.db, team.notices, later)
    assert bool(nudged) is not pauses
    assert team.experiment(1).title == "Forgotten"  # the workspace's data is all there
    assert len(_audit(team.db, "workspace_paused")) == int(pauses)
    if pauses:
        assert len(team.outbox_rows()) == before  # nothing queued for it
        slack = EdgeSlack(team_id=TEAM)
        _dispatcher(team.db, slack, clock).deliver_due()  # the first look probes auth.test
        assert run_stale_nudges(team.db, team.notices, later) == [
            "nudged <@UALICE> about EXP-1 (15 days idle)"
        ]


# --- channel errors -----------------------------------------------------------------------


def test_a_public_channel_that_dropped_the_bot_is_rejoined_once_and_the_post_retried(
    team: Team, clock: Clock
) -> None:
    slack = EdgeSlack()
    dispatcher = _dispatcher(team.db, slack, clock)
    dispatcher.deliver_due()  # the project's intro
    team.run(
        "alice", create_experiment, NewExperiment("churn", "Recency", "Recency matters", "auc")
    )
    slack.fail("chat.postMessage", "C-CHURN", DeliveryFailed("not_in_channel", permanent=True))

    assert dispatcher.deliver_due() == 1

    methods = [m for m, _ in slack.calls]
    assert methods[-3:] == ["chat.postMessage", "conversations.join", "chat.postMessage"]
    assert team.experiment(1).thread_ts is not None
    assert not any(r.dead for r in team.outbox_rows())


def _root_update(team: Team, experiment_id: int, text: str) -> None:
    """Queue what a status change queues for the thread root: a chat.update of it."""
    with team.db.write() as uow:
        payload = {"channel": "C-CHURN", "text": text}
        uow.outbox.add(
            OutgoingMessage(TEAM, "C-CHURN", "chat.update", payload, experiment_id), team.clock()
        )
        uow.commit()


def _dms(slack: EdgeSlack) -> list[dict[str, Any]]:
    return [p for m, p in slack.calls if m == "chat.postMessage" and p["channel"] != "C-CHURN"]


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_a_channel_that_stays_refused_tells_its_managers_once_and_the_thread_starts_anew(
    team: Team, clock: Clock, error: str
) -> None:
    slack = EdgeSlack()
    dispatcher = _dispatcher(team.db, slack, clock)
    dispatcher.deliver_due()  # the project's intro
    experiment = team.run(
        "alice", create_experiment, NewExperiment("churn", "Recency", "Recency matters", "auc")
    )
    refused = DeliveryFailed(error, permanent=True)
    joinable = error != "is_archived"
    # The root: refused, (joined,) refused again; then a reply: refused, no second join.
    slack.fail("chat.postMessage", "C-CHURN", *[refused] * (3 if joinable else 2))

    dispatcher.deliver_due()
    team.run("alice", take_step, experiment.number, "start")
    dispatcher.deliver_due()

    joins = [p for m, p in slack.calls if m == "conversations.join"]
    assert len(joins) == (1 if joinable else 0)  # once, not per message
    dms = _dms(slack)
    # The project's managers (its own, workspace-wide, and admins), once each.
    assert sorted(p["channel"] for p in dms) == ["UADMIN", "UBOSS", "UMGR"]
    assert "<#C-CHURN>" in dms[0]["text"] and "/invite @mlgov" in dms[0]["text"]
    assert "*churn*" in dms[0]["text"]
    rows = {r.payload["text"]: r for r in team.outbox_rows()}
    assert rows["EXP-1 proposed"].dead and rows["EXP-1 proposed"].last_error == error
    assert team.experiment(1).thread_ts is None

    # Someone invites mlgov: the next update of the root goes out as a new root.
    _root_update(team, experiment.id, "EXP-1 card, running")
    team.run("alice", take_step, experiment.number, "analyze")
    assert dispatcher.deliver_due() == 2
    root_ts = team.experiment(1).thread_ts
    (m1, card), (m2, reply) = slack.calls[-2:]
    assert (m1, m2) == ("chat.postMessage", "chat.postMessage")
    assert card["text"] == "EXP-1 card, running" and "ts" not in card and "thread_ts" not in card
    assert root_ts is not None and reply["thread_ts"] == root_ts

    # It breaks again later: that is news, and the managers hear of it again.
    slack.fail("chat.postMessage", "C-CHURN", *[refused] * (2 if joinable else 1))
    team.run("alice", take_step, experiment.number, "abandon", text="gone")
    dispatcher.deliver_due()
    assert len(_dms(slack)) == 6


def test_a_join_refused_for_good_tells_the_managers(team: Team, clock: Clock) -> None:
    slack = EdgeSlack()
    dispatcher = _dispatcher(team.db, slack, clock)
    dispatcher.deliver_due()  # the project's intro
    team.run("alice", create_experiment, NewExperiment("churn", "Recency", "Recency", "auc"))
    slack.fail("chat.postMessage", "C-CHURN", DeliveryFailed("not_in_channel", permanent=True))
    slack.fail("conversations.join", "C-CHURN", DeliveryFailed("missing_scope", permanent=True))

    dispatcher.deliver_due()

    assert len(_dms(slack)) == 3
    assert [r.dead for r in team.outbox_rows() if r.channel == "C-CHURN"] == [False, True]


def test_a_join_that_is_rate_limited_tries_again_later_without_telling_anyone(
    team: Team, clock: Clock
) -> None:
    slack = EdgeSlack()
    dispatcher = _dispatcher(team.db, slack, clock)
    dispatcher.deliver_due()  # the project's intro
    team.run("alice", create_experiment, NewExperiment("churn", "Recency", "Recency", "auc"))
    slack.fail("chat.postMessage", "C-CHURN", DeliveryFailed("not_in_channel", permanent=True))
    slack.fail("conversations.join", "C-CHURN", DeliveryFailed("ratelimited", retry_after=10))

    assert dispatcher.deliver_due() == 0
    clock.advance(seconds=10)
    assert dispatcher.deliver_due() == 1

    assert _dms(slack) == [] and team.experiment(1).thread_ts is not None
    with team.db.read() as uow:
        holds = uow.session.execute(select(OutboxHoldRow.team_id, OutboxHoldRow.method)).all()
    assert [tuple(h) for h in holds] == [(TEAM, "conversations.join")]

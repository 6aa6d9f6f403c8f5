"""The outbox and its dispatcher: channel order, Retry-After, backoff, threads, racing workers."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select

from bot.domain.commands import NewExperiment
from bot.domain.model import OutgoingMessage
from bot.services.delivery import DeliveryFailed, OutboxDispatcher
from bot.services.experiments import create_experiment, take_step
from storage.models import OutboxRow
from storage.outbox import OutboxStore
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock, Team
from tests.waiting import wait_until

WAIT = 30


class ScriptedSlack:
    """A SlackApi double: records calls that succeed, raises failures scripted per channel."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.failures: dict[str, list[DeliveryFailed]] = defaultdict(list)
        self.down: DeliveryFailed | None = None
        self._lock = threading.Lock()

    def fail(self, channel: str, *failures: DeliveryFailed) -> None:
        """The next calls to ``channel`` fail with ``failures``, in order."""
        self.failures[channel].extend(failures)

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self.down is not None:
                raise self.down
            scripted = self.failures[payload["channel"]]
            if scripted:
                raise scripted.pop(0)
            ts = f"1767000000.{len(self.calls) + 1:06d}"
            self.calls.append((method, dict(payload), ts))
            return {"ok": True, "channel": payload["channel"], "ts": ts}

    def texts(self, channel: str | None = None) -> list[str]:
        return [p["text"] for _, p, _ in self.calls if channel in (None, p["channel"])]


def _rate_limited(seconds: float) -> DeliveryFailed:
    return DeliveryFailed("ratelimited", retry_after=seconds)


def _server_error() -> DeliveryFailed:
    return DeliveryFailed("HTTP 503")


def _enqueue(db: Database, clock: Clock, *messages: tuple[str, str]) -> None:
    """Queue (channel, text) messages in one transaction, as a change would."""
    with db.write() as uow:
        for channel, text in messages:
            payload = {"channel": channel, "text": text}
            uow.outbox.add(OutgoingMessage(TEAM, channel, "chat.postMessage", payload), clock())
        uow.commit()


def _rows(db: Database) -> dict[str, Row[Any]]:
    """Outbox rows by their message text."""
    with db.read() as uow:
        rows = uow.session.execute(select(*OutboxRow.__table__.columns)).all()
    return {r.payload["text"]: r for r in rows}


def _dispatcher(db: Database, slack: ScriptedSlack, clock: Clock, owner: str = "w1") -> Any:
    return OutboxDispatcher(OutboxStore(db, owner), slack, clock)


def test_each_channel_gets_its_messages_in_the_order_they_were_queued(
    db: Database, clock: Clock
) -> None:
    _enqueue(db, clock, *[(f"C{i % 3}", f"C{i % 3}-{i // 3}") for i in range(12)])
    slack = ScriptedSlack()

    assert _dispatcher(db, slack, clock).deliver_due() == 12

    for channel in ("C0", "C1", "C2"):
        assert slack.texts(channel) == [f"{channel}-{n}" for n in range(4)]
    assert all(r.sent_at == clock.now and r.attempts == 1 for r in _rows(db).values())
    assert OutboxStore(db, "w1").pending_count() == 0
    assert _dispatcher(db, slack, clock).deliver_due() == 0
    assert len(slack.calls) == 12


def test_retry_after_holds_back_the_channel_in_order(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, ("CA", "a1"), ("CB", "b1"), ("CA", "a2"), ("CB", "b2"))
    slack = ScriptedSlack()
    slack.fail("CA", _rate_limited(30))
    dispatcher = _dispatcher(db, slack, clock)
    start = clock.now

    # Rate limits are per method and workspace: CB's posts wait too (see
    # test_outbox_slack_edges.py for other methods and workspaces going on).
    assert dispatcher.deliver_due() == 0
    a1 = _rows(db)["a1"]
    assert a1.next_attempt_at == start + timedelta(seconds=30)
    assert (a1.attempts, a1.last_error, a1.sent_at, a1.dead) == (1, "ratelimited", None, False)

    clock.advance(seconds=29)
    assert dispatcher.deliver_due() == 0
    clock.advance(seconds=1)
    assert dispatcher.deliver_due() == 4
    assert slack.texts("CA") == ["a1", "a2"]  # a2 did not overtake a1
    assert slack.texts("CB") == ["b1", "b2"]


def test_server_errors_back_off_exponentially_then_deliver(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, ("CA", "a1"), ("CA", "a2"))
    slack = ScriptedSlack()
    slack.fail("CA", *[_server_error() for _ in range(4)])
    dispatcher = _dispatcher(db, slack, clock)

    waits = []
    for _ in range(4):
        assert dispatcher.deliver_due() == 0
        retry_at = _rows(db)["a1"].next_attempt_at
        waits.append((retry_at - clock.now).total_seconds())
        clock.now = retry_at - timedelta(milliseconds=1)
        assert dispatcher.deliver_due() == 0  # not yet due
        clock.now = retry_at
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert dispatcher.deliver_due() == 2
    assert slack.texts() == ["a1", "a2"]
    a1 = _rows(db)["a1"]
    assert (a1.attempts, a1.last_error) == (5, None)


def test_slack_down_loses_nothing_and_keeps_order_when_back(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, *[(f"C{i % 3}", f"C{i % 3}-{i // 3}") for i in range(9)])
    slack = ScriptedSlack()
    slack.down = _server_error()
    dispatcher = _dispatcher(db, slack, clock)
    for _ in range(6):
        assert dispatcher.deliver_due() == 0
        clock.advance(minutes=10)
    assert OutboxStore(db, "w1").pending_count() == 9
    slack.down = None

    assert dispatcher.deliver_due() == 9

    for channel in ("C0", "C1", "C2"):
        assert slack.texts(channel) == [f"{channel}-{n}" for n in range(3)]
    assert not any(r.dead for r in _rows(db).values())


def test_a_permanent_error_buries_the_message_and_the_channel_moves_on(
    db: Database, clock: Clock
) -> None:
    _enqueue(db, clock, ("CA", "a1"), ("CA", "a2"), ("CA", "a3"))
    slack = ScriptedSlack()
    slack.fail("CA", DeliveryFailed("invalid_blocks", permanent=True))

    assert _dispatcher(db, slack, clock).deliver_due() == 2

    assert slack.texts() == ["a2", "a3"]
    a1 = _rows(db)["a1"]
    assert (a1.dead, a1.sent_at, a1.last_error) == (True, None, "invalid_blocks")
    assert OutboxStore(db, "w1").pending_count() == 0


def test_a_message_failing_for_a_day_is_given_up(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, ("CA", "a1"), ("CA", "a2"))
    slack = ScriptedSlack()
    slack.fail("CA", _server_error(), _server_error())
    dispatcher = _dispatcher(db, slack, clock)
    assert dispatcher.deliver_due() == 0
    assert not _rows(db)["a1"].dead

    clock.advance(hours=25)
    assert dispatcher.deliver_due() == 1

    assert _rows(db)["a1"].dead
    assert slack.texts() == ["a2"]


def test_thread_root_records_its_ts_and_later_messages_join_the_thread(
    team: Team, clock: Clock
) -> None:
    proposal = NewExperiment("churn", "Recency", "Recency matters", "auc")
    experiment = team.run("alice", create_experiment, proposal)
    team.run("alice", take_step, experiment.number, "start")
    with team.db.write() as uow:
        payload = {"channel": "C-CHURN", "text": "EXP-1 is running"}
        update = OutgoingMessage(TEAM, "C-CHURN", "chat.update", payload, experiment.id)
        uow.outbox.add(update, clock())
        uow.commit()
    slack = ScriptedSlack()

    assert _dispatcher(team.db, slack, clock).deliver_due() == 4

    (_, _, _), (_, root, root_ts), (_, reply, _), (method, edit, _) = slack.calls
    assert root["text"] == "EXP-1 proposed" and "thread_ts" not in root
    assert team.experiment(1).thread_ts == root_ts
    assert reply == {"channel": "C-CHURN", "text": "EXP-1: start", "thread_ts": root_ts}
    assert method == "chat.update" and edit["ts"] == root_ts and "thread_ts" not in edit


def test_an_update_of_a_thread_never_posted_starts_the_thread_anew(
    team: Team, clock: Clock
) -> None:
    slack = ScriptedSlack()
    dispatcher = _dispatcher(team.db, slack, clock)
    assert dispatcher.deliver_due() == 1  # the project's intro
    experiment = team.run("alice", create_experiment, NewExperiment("churn", "Recency"))
    with team.db.write() as uow:
        payload = {"channel": "C-CHURN", "text": "EXP-1 status"}
        uow.outbox.add(
            OutgoingMessage(TEAM, "C-CHURN", "chat.update", payload, experiment.id), clock()
        )
        uow.commit()
    # The root is refused, and so is the join; the managers are told (three DMs).
    slack.fail("C-CHURN", *[DeliveryFailed("not_in_channel", permanent=True)] * 2)

    assert dispatcher.deliver_due() == 4

    [(method, root, root_ts)] = [c for c in slack.calls if c[1]["text"] == "EXP-1 status"]
    assert method == "chat.postMessage" and root == payload  # posted, not given up
    assert team.experiment(1).thread_ts == root_ts
    rows = _rows(team.db)
    assert rows["EXP-1 proposed"].dead
    assert not rows["EXP-1 status"].dead and rows["EXP-1 status"].result_ts == root_ts
    assert OutboxStore(team.db, "w1").pending_count() == 0


def test_two_workers_racing_deliver_each_message_once_in_channel_order(
    db: Database, clock: Clock
) -> None:
    _enqueue(db, clock, *[(f"C{c}", f"C{c}-{n:02d}") for n in range(20) for c in range(10)])
    slack = ScriptedSlack()
    start = threading.Barrier(2, timeout=WAIT)
    failures: list[BaseException] = []
    sent: dict[str, int] = {}

    def work(owner: str) -> None:
        dispatcher = _dispatcher(db, slack, clock, owner)
        try:
            start.wait()
            total = 0
            while True:
                total += dispatcher.deliver_due()
                if dispatcher.store.pending_count() == 0:
                    break
            sent[owner] = total
        except BaseException as exc:  # asserted below, in the test's thread
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(o,)) for o in ("w-a", "w-b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(2 * WAIT)

    assert failures == [] and not any(w.is_alive() for w in workers)
    assert sum(sent.values()) == 200
    texts = slack.texts()
    assert sorted(texts) == sorted(set(texts)) and len(texts) == 200
    for c in range(10):
        assert slack.texts(f"C{c}") == [f"C{c}-{n:02d}" for n in range(20)]


def test_an_expired_lease_is_taken_over_by_another_worker(db: Database, clock: Clock) -> None:
    _enqueue(db, clock, ("CA", "a1"), ("CA", "a2"), ("CB", "b1"))
    dead_worker = OutboxStore(db, "w-dead", lease=timedelta(seconds=60))
    leased = dead_worker.lease_heads(clock())  # ... and it dies before sending
    assert sorted(m.payload["text"] for m in leased) == ["a1", "b1"]
    slack = ScriptedSlack()
    survivor = _dispatcher(db, slack, clock, "w-live")

    clock.advance(seconds=59)
    assert survivor.deliver_due() == 0
    clock.advance(seconds=2)
    assert survivor.deliver_due() == 3

    assert (slack.texts("CA"), slack.texts("CB")) == (["a1", "a2"], ["b1"])
    a1 = _rows(db)["a1"]
    assert a1.lease_owner == "w-live"
    # The first worker waking up late does not overwrite the survivor's record.
    late = next(m for m in leased if m.payload["text"] == "a1")
    dead_worker.delivered(late, clock(), "9999.000001")
    assert _rows(db)["a1"].result_ts == a1.result_ts != "9999.000001"


def test_a_leased_message_is_held_while_renewed_and_taken_over_once_it_is_not(
    db: Database, clock: Clock
) -> None:
    """The default lease is short (a killed process's message goes out again within 10 s)
    and the heartbeat's renewal keeps it while the message is still being sent."""
    _enqueue(db, clock, ("CA", "a1"))
    first, second = OutboxStore(db, "w1"), OutboxStore(db, "w2")
    (message,) = first.lease_heads(clock())
    assert second.lease_heads(clock()) == []
    clock.advance(seconds=9)
    first.renew(message.id, clock())  # the heartbeat of a worker still sending it
    clock.advance(seconds=9)
    assert second.lease_heads(clock()) == []

    clock.advance(seconds=2)  # w1 died: its lease ran out, and w2 takes the message over
    (taken,) = second.lease_heads(clock())
    assert taken.id == message.id
    first.renew(message.id, clock())  # w1's late heartbeat does not take it back
    assert _rows(db)["a1"].lease_owner == "w2"


def test_a_settled_message_is_not_held_again_by_a_late_heartbeat(
    db: Database, clock: Clock
) -> None:
    """A beat that read the message just before it was settled must not lease it anew:
    a message put back for a retry is due again at its time, not a lease later."""
    _enqueue(db, clock, ("CA", "a1"))
    first, second = OutboxStore(db, "w1"), OutboxStore(db, "w2")
    (message,) = first.lease_heads(clock())
    first.retry_later(message, clock(), "HTTP 503")
    first.renew(message.id, clock())
    (again,) = second.lease_heads(clock())
    assert again.id == message.id


def test_a_send_slower_than_the_lease_keeps_it_by_the_heartbeat(
    db: Database, clock: Clock
) -> None:
    """w1's Slack call hangs past the lease (a slow upload); its heartbeat renews the lease,
    so w2 does not send the message a second time, and the channel's order holds."""
    _enqueue(db, clock, ("CA", "a1"), ("CA", "a2"))
    in_call, release = threading.Event(), threading.Event()

    class SlowSlack(ScriptedSlack):
        def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
            if payload["text"] == "a1" and not in_call.is_set():
                in_call.set()
                assert release.wait(WAIT)
            return super().call(method, payload)

    slack = SlowSlack()
    first = OutboxDispatcher(OutboxStore(db, "w1"), slack, clock, heartbeat_seconds=0.01)
    second = _dispatcher(db, slack, clock, "w2")
    sent: list[int] = []
    worker = threading.Thread(target=lambda: sent.append(first.deliver_due()))
    worker.start()
    try:
        assert in_call.wait(WAIT)
        for _ in range(3):  # 27 s in all, well past one 10 s lease
            clock.advance(seconds=9)
            until = clock() + timedelta(seconds=10)
            wait_until(lambda until=until: _rows(db)["a1"].lease_until == until, WAIT)
            assert second.deliver_due() == 0
    finally:
        release.set()
        worker.join(WAIT)

    assert sent == [2] and slack.texts("CA") == ["a1", "a2"]
    assert second.deliver_due() == 0

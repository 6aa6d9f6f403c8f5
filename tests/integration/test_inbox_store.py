"""The inbox on SQLite and PostgreSQL: one row per delivery, one worker per row, leases
that let a restarted worker resume, and rows settled only by the worker holding them."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from storage.inbox import InboxItem, InboxStore, InboxWriter, LeaseLost
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock

LEASE = timedelta(seconds=10)


def store_request(db: Database, clock: Clock, key: str, body: dict[str, Any] | None = None) -> bool:
    with db.write() as uow:
        stored = uow.inbox.add(TEAM, key, "command", body or {"text": key}, clock())
        uow.commit()
    return stored


def finish(db: Database, item: InboxItem, owner: str, clock: Clock) -> None:
    with db.write() as uow:
        uow.inbox.finish(item, owner, clock())
        uow.commit()


def test_a_repeated_delivery_is_stored_once(db: Database, clock: Clock) -> None:
    assert store_request(db, clock, "k1", {"text": "list"}) is True
    assert store_request(db, clock, "k1", {"text": "list"}) is False
    assert InboxStore(db, "w1").counts() == {"pending": 1}
    assert InboxStore(db, "w1").pending_count() == 1


def test_a_claimed_row_is_held_until_its_lease_runs_out(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1", {"command": "/exp", "text": "list"})
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)

    (item,) = first.claim(clock())
    assert (item.kind, item.body, item.attempts) == (
        "command",
        {"command": "/exp", "text": "list"},
        1,
    )
    assert second.claim(clock()) == []
    clock.advance(seconds=5)
    first.renew([item.id], clock())  # the heartbeat of a worker still running it
    clock.advance(seconds=9)
    assert second.claim(clock()) == []

    clock.advance(seconds=2)  # w1 died: its lease ran out, and w2 resumes the row
    (resumed,) = second.claim(clock())
    assert (resumed.id, resumed.attempts) == (item.id, 2)


def test_a_claim_leases_no_more_rows_than_asked_for(db: Database, clock: Clock) -> None:
    for n in range(6):
        store_request(db, clock, f"k{n}")
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)

    assert [item.id for item in first.claim(clock(), limit=2)] == [1, 2]
    assert [item.id for item in second.claim(clock(), limit=10)] == [3, 4, 5, 6]
    assert first.claim(clock(), limit=10) == []


def test_a_late_heartbeat_never_shortens_a_lease(db: Database, clock: Clock) -> None:
    """A heartbeat read its clock, then waited for the database; meanwhile another thread of
    the same worker claimed the row afresh. The heartbeat's renewal keeps the later lease."""
    store_request(db, clock, "k1")
    worker = InboxStore(db, "w1", LEASE)
    heartbeat_read_at = clock()
    clock.advance(seconds=5)
    (item,) = worker.claim(clock())  # leased until +15 s

    assert worker.renew([item.id], heartbeat_read_at) == []  # still held: renewed to +15 s
    clock.advance(seconds=6)  # +11 s: past the heartbeat's +10 s, within the claim's lease
    assert InboxStore(db, "w2", LEASE).claim(clock()) == []
    assert worker.holds(item, clock())


def test_a_fresh_claim_is_known_held_without_a_query(db: Database, clock: Clock) -> None:
    """The check before each reply is posted costs a worker no round trip while less than
    half of its claim's lease has gone (nobody may take the row before the lease ends)."""
    store_request(db, clock, "k1")
    worker = InboxStore(db, "w1", LEASE)
    (item,) = worker.claim(clock())
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        clock.advance(seconds=4)
        assert worker.holds(item, clock()) and statements == []
        clock.advance(seconds=2)  # half the lease gone: the database is asked, and renews it
        assert worker.holds(item, clock()) and statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    clock.advance(seconds=9)  # renewed at +6 s for 10 s: still held at +15 s
    assert InboxStore(db, "w2", LEASE).claim(clock()) == []


def test_only_the_worker_holding_a_row_can_finish_it(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1")
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)
    (stale,) = first.claim(clock())
    clock.advance(seconds=11)
    (item,) = second.claim(clock())

    with pytest.raises(LeaseLost):  # w1 was too slow: its effect must roll back
        finish(db, stale, "w1", clock)
    finish(db, item, "w2", clock)

    clock.advance(seconds=60)
    assert first.claim(clock()) == [] and second.claim(clock()) == []
    assert first.counts() == {"done": 1}


def test_a_failed_attempt_waits_then_any_worker_retries(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1")
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)
    (item,) = first.claim(clock())
    first.retry_later(item, clock() + timedelta(seconds=2), "StorageError: busy")

    assert second.claim(clock()) == []
    clock.advance(seconds=3)
    (again,) = second.claim(clock())
    assert again.attempts == 2


def test_a_parked_row_is_never_claimed_again(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1")
    worker = InboxStore(db, "w1", LEASE)
    (item,) = worker.claim(clock())
    with db.write() as uow:
        uow.inbox.park(item, "w1", clock(), "RuntimeError: boom")
        uow.commit()
    clock.advance(minutes=5)
    assert worker.claim(clock()) == []
    assert worker.counts() == {"parked": 1}


def test_two_workers_at_a_barrier_never_claim_one_row(db: Database, clock: Clock) -> None:
    for n in range(20):
        store_request(db, clock, f"k{n}")
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {}

    def claim(owner: str) -> None:
        store = InboxStore(db, owner, LEASE)
        barrier.wait()
        claimed[owner] = [item.id for item in store.claim(clock(), limit=20)]

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    first, second = claimed["w1"], claimed["w2"]
    assert not set(first) & set(second)
    assert len(first) + len(second) == 20  # the one that waited found the rest, or none


def test_finished_rows_are_forgotten_after_a_while(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1")
    store_request(db, clock, "k2")
    worker = InboxStore(db, "w1", LEASE)
    done, _still_pending = worker.claim(clock(), limit=2)
    finish(db, done, "w1", clock)
    with db.write() as uow:
        assert uow.inbox.forget_done_before(clock() + timedelta(seconds=1)) == 1
        uow.commit()
    assert worker.counts() == {"pending": 1}


def store_form(db: Database, clock: Clock, key: str) -> None:
    """A request answered by a form, stored urgent (by the ack path's writer)."""
    body = {"command": "/exp", "text": ""}
    assert InboxWriter(db).add(TEAM, key, "command", body, clock(), urgent=True) == ""


def test_a_form_is_claimed_before_older_requests(db: Database, clock: Clock) -> None:
    store_request(db, clock, "older")
    store_form(db, clock, "form")
    store_request(db, clock, "newer")
    worker = InboxStore(db, "w1", LEASE)

    (form,) = worker.claim(clock())
    assert (form.id, form.urgent) == (2, True)
    assert [item.id for item in worker.claim(clock(), limit=5)] == [1, 3]


def test_a_claim_of_forms_only_leaves_other_requests(db: Database, clock: Clock) -> None:
    store_request(db, clock, "k1")
    store_form(db, clock, "f1")
    store_form(db, clock, "f2")
    forms_only = InboxStore(db, "w1", LEASE)

    assert [i.id for i in forms_only.claim(clock(), limit=5, urgent_only=True)] == [2, 3]
    assert forms_only.claim(clock(), urgent_only=True) == []
    assert [i.id for i in InboxStore(db, "w2", LEASE).claim(clock(), limit=5)] == [1]


def test_renewing_names_the_rows_another_worker_took_over(db: Database, clock: Clock) -> None:
    for key in ("k1", "k2", "k3"):
        store_request(db, clock, key)
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)
    one, two, three = first.claim(clock(), limit=3)
    finish(db, three, "w1", clock)
    clock.advance(seconds=11)  # w1 stalled past its lease: w2 takes the oldest over
    (taken,) = second.claim(clock())

    assert first.renew([one.id, two.id, three.id], clock()) == [one.id, three.id]
    assert taken.id == one.id
    assert not first.holds(one, clock()) and first.holds(two, clock())
    assert second.holds(taken, clock())


def test_a_lease_run_low_is_renewed_when_asked_unless_taken_over(
    db: Database, clock: Clock
) -> None:
    store_request(db, clock, "k1")
    first, second = InboxStore(db, "w1", LEASE), InboxStore(db, "w2", LEASE)
    (item,) = first.claim(clock())
    clock.advance(seconds=12)  # its heartbeat stalled too, but nobody took the row yet

    assert first.holds(item, clock())  # still ours: renewed for a whole lease
    clock.advance(seconds=9)
    assert second.claim(clock()) == []
    finish(db, item, "w1", clock)


def test_a_takeover_by_the_same_worker_is_told_from_the_attempt_it_replaced(
    db: Database, clock: Clock
) -> None:
    """Two threads of one process share an owner: the attempt number tells them apart."""
    store_request(db, clock, "k1")
    worker = InboxStore(db, "w1", LEASE)
    (stalled,) = worker.claim(clock())
    clock.advance(seconds=11)
    (again,) = worker.claim(clock())

    assert (stalled.attempts, again.attempts) == (1, 2)
    assert not worker.holds(stalled, clock()) and worker.holds(again, clock())
    with pytest.raises(LeaseLost):
        finish(db, stalled, "w1", clock)
    finish(db, again, "w1", clock)
    assert worker.counts() == {"done": 1}

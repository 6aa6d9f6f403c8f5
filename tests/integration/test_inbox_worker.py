"""The inbox worker's loop: a stop drains what is waiting, a row that kills its process
every time is parked, and a stop gives up on a row that never ends instead of hanging."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.domain.errors import StorageError
from bot.services import inbox_worker
from bot.services.inbox_worker import AcksElsewhere, AcksFirst, InboxWorker, new_board
from storage.inbox import InboxItem, InboxStore, InboxWriter
from storage.unit_of_work import Database
from tests.integration.conftest import T0, TEAM, Clock
from tests.waiting import wait_until


class Recorder:
    """A Runner that finishes each row it runs (optionally after ``gate`` opens)."""

    def __init__(self, db: Database, owner: str, gate: threading.Event | None = None) -> None:
        self.db = db
        self.owner = owner
        self.gate = gate
        self.ran: list[int] = []
        self.parked: list[tuple[int, int]] = []
        self.started = threading.Event()

    def run(self, item: InboxItem) -> None:
        self.started.set()
        if self.gate is not None:
            self.gate.wait()
        self.ran.append(item.id)
        with self.db.write() as uow:
            uow.inbox.finish(item, self.owner, item.received_at)
            uow.commit()

    def give_up(self, item: InboxItem, why: str, tried: int) -> None:
        self.parked.append((item.id, tried))
        with self.db.write() as uow:
            uow.inbox.park(item, self.owner, item.received_at, why)
            uow.commit()


def store_requests(db: Database, clock: Clock, count: int) -> None:
    with db.write() as uow:
        for n in range(count):
            uow.inbox.add(TEAM, f"k{n}", "command", {"n": n}, clock())
        uow.commit()


def one_request_held_running(
    db: Database, clock: Clock
) -> tuple[InboxWorker, Recorder, threading.Event]:
    """A one-thread worker running the one stored request, held until the gate opens."""
    store_requests(db, clock, 1)
    gate = threading.Event()
    runner = Recorder(db, "w1", gate)
    worker = InboxWorker(InboxStore(db, "w1"), runner, clock, threads=1, poll_seconds=60)
    worker.start()
    assert runner.started.wait(30)
    return worker, runner, gate


def test_a_stop_finishes_what_is_waiting_first(db: Database, clock: Clock) -> None:
    store_requests(db, clock, 6)
    runner = Recorder(db, "w1")
    worker = InboxWorker(InboxStore(db, "w1"), runner, clock, threads=2, poll_seconds=60)

    worker.start()
    assert worker.stop(drain_seconds=30) is True

    assert sorted(runner.ran) == [1, 2, 3, 4, 5, 6]
    assert worker.store.counts() == {"done": 6}


def test_a_row_whose_worker_died_three_times_is_parked_not_run(db: Database, clock: Clock) -> None:
    store_requests(db, clock, 1)
    for n in range(3):  # each claimer dies holding it; its lease runs out
        assert len(InboxStore(db, f"dead{n}").claim(clock())) == 1
        clock.advance(minutes=1)
    runner = Recorder(db, "w1")
    worker = InboxWorker(InboxStore(db, "w1"), runner, clock, threads=1, poll_seconds=60)

    worker.start()
    worker.stop(drain_seconds=30)

    assert runner.ran == [] and runner.parked == [(1, 3)]
    assert worker.store.counts() == {"parked": 1}


def test_a_stop_leaves_a_row_that_does_not_end_to_the_next_start(
    db: Database, clock: Clock
) -> None:
    worker, runner, gate = one_request_held_running(db, clock)

    assert worker.stop(drain_seconds=0.2) is False
    assert worker.store.counts() == {"pending": 1}  # still stored: the next start runs it
    clock.advance(seconds=11)
    (resumed,) = InboxStore(db, "w2", timedelta(seconds=10)).claim(clock())
    assert resumed.attempts == 2

    gate.set()  # the abandoned attempt ends at last: its finish is refused, w2 holds the row
    assert worker.stop(drain_seconds=30) is True
    assert worker.store.counts() == {"pending": 1}


def test_a_drain_leaves_requests_stored_after_the_stop_to_the_next_start(
    db: Database, clock: Clock
) -> None:
    worker, runner, gate = one_request_held_running(db, clock)

    stopping = threading.Thread(target=worker.stop, kwargs={"drain_seconds": 30})
    stopping.start()
    wait_until(worker._draining.is_set)
    # Another web process stores a request after the stop: the drain must not take it,
    # or a busy replica would keep a stopping worker busy until its time runs out.
    clock.advance(seconds=1)
    with db.write() as uow:
        uow.inbox.add(TEAM, "later", "command", {"n": "later"}, clock())
        uow.commit()
    gate.set()
    stopping.join(30)

    assert runner.ran == [1]
    assert worker.store.counts() == {"done": 1, "pending": 1}


class FailsOnceWithStorage(Recorder):
    """A Runner whose first run meets a database error (busy, or away for a moment)."""

    failed = False

    def run(self, item: InboxItem) -> None:
        if not self.failed:
            self.failed = True
            raise StorageError("The database is busy or unreachable; please try again shortly.")
        super().run(item)


def last_error(db: Database) -> str | None:
    with db.read() as uow:
        return uow.session.scalar(text("SELECT last_error FROM inbox"))


def test_a_database_error_is_retried_without_counting_towards_parking(
    db: Database, clock: Clock
) -> None:
    store_requests(db, clock, 1)
    runner = FailsOnceWithStorage(db, "w1")
    worker = InboxWorker(InboxStore(db, "w1"), runner, clock, threads=1, poll_seconds=0.05)
    worker.start()
    try:
        # Until the row was let go (its retry time is set from the clock: advancing the
        # clock before that would put the retry out of reach).
        wait_until(lambda: runner.failed and last_error(db) is not None)
        clock.advance(seconds=6)  # past the retry's pause
        wait_until(lambda: worker.store.counts() == {"done": 1})
    finally:
        worker.stop(drain_seconds=5)
    with db.read() as uow:
        attempts = uow.session.scalar(text("SELECT attempts FROM inbox"))
    assert attempts == 1  # the database's failure was given back: 2 attempts remain
    assert runner.parked == [] and runner.ran == [1]


class HoldsOthersThanForms(Recorder):
    """A Runner on which every request but a form runs until the gate opens (a 1M-row
    evaluation, say); ``items`` are the rows it was given, in order."""

    def __init__(self, db: Database, owner: str, gate: threading.Event) -> None:
        super().__init__(db, owner)
        self.hold = gate
        self.items: list[InboxItem] = []
        self.held: list[int] = []

    def run(self, item: InboxItem) -> None:
        self.items.append(item)
        if not item.urgent:
            self.held.append(item.id)
            assert self.hold.wait(30)
        super().run(item)


def test_a_form_runs_while_every_other_thread_is_held_busy(db: Database, clock: Clock) -> None:
    store_requests(db, clock, 3)
    gate = threading.Event()
    runner = HoldsOthersThanForms(db, "w1", gate)
    worker = InboxWorker(InboxStore(db, "w1"), runner, clock, threads=2, poll_seconds=60)
    db.on_inbox(worker.wake)  # as the app does: a stored request wakes the worker
    worker.start()
    try:
        wait_until(lambda: len(runner.held) == 2)  # both threads busy, a third request waits
        assert InboxWriter(db).add(TEAM, "form", "command", {}, clock(), urgent=True) == ""
        wait_until(lambda: worker.store.counts() == {"pending": 3, "done": 1})
        assert runner.ran == [4]  # the form ran; the others are still held, or waiting
    finally:
        gate.set()
        worker.stop(drain_seconds=30)
    assert sorted(runner.ran) == [1, 2, 3, 4]


def test_the_heartbeat_marks_a_row_another_worker_took_over_as_lost(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(inbox_worker, "HEARTBEAT_SECONDS", 0.05)
    store_requests(db, clock, 1)
    gate = threading.Event()
    runner = HoldsOthersThanForms(db, "w1", gate)
    # w1 lives in the past (a process stalled past its lease, seen from outside): its
    # heartbeat keeps renewing up to T0 + 10 s while w2 claims at T0 + 11 s.
    worker = InboxWorker(InboxStore(db, "w1"), runner, lambda: T0, threads=1, poll_seconds=60)
    worker.start()
    try:
        wait_until(lambda: runner.held == [1])
        clock.advance(seconds=11)
        second, claimed = InboxStore(db, "w2"), []
        # Polled, as a worker does: on PostgreSQL, SKIP LOCKED passes over the row while
        # w1's heartbeat is updating it.
        wait_until(lambda: bool(claimed.extend(second.claim(clock())) or claimed))
        (taken,), (mine,) = claimed, runner.items

        wait_until(mine.lost.is_set)
        assert not worker.store.holds(mine, T0)
        with db.write() as uow:  # w2 finishes it
            uow.inbox.finish(taken, "w2", clock())
            uow.commit()
    finally:
        gate.set()
        worker.stop(drain_seconds=30)
    assert worker.store.counts() == {"done": 1}
    assert "lost the lease of row 1 to another worker" in caplog.text
    assert "row 1 was taken over by another worker" in caplog.text  # w1's finish refused


def test_while_requests_are_being_acknowledged_only_forms_are_taken(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inbox threads of the acking process hold back new rows while an ack is in progress
    (they share Python's GIL with it); the forms' thread does not wait (3 s trigger)."""
    monkeypatch.setattr(inbox_worker, "HOLD_BACK_S", 60.0)
    acks = AcksFirst()
    runner = Recorder(db, "w1")
    worker = InboxWorker(
        InboxStore(db, "w1"), runner, clock, threads=2, poll_seconds=60, acks=acks
    )
    db.on_inbox(worker.wake)
    writer = InboxWriter(db)
    try:
        with acks.acking():  # a burst is being acknowledged
            worker.start()
            assert writer.add(TEAM, "list", "command", {}, clock()) == ""
            assert writer.add(TEAM, "form", "command", {}, clock(), urgent=True) == ""
            wait_until(lambda: runner.ran == [2])  # the form ran
            wait_until(lambda: worker.store.counts() == {"pending": 1, "done": 1})
            wait_until(lambda: acks.held_back() == 2)  # both other threads wait for the acks
            assert runner.ran == [2]
        wait_until(lambda: runner.ran == [2, 1])  # the acks are done: the rest runs
    finally:
        worker.stop(drain_seconds=30)


def test_worker_processes_hold_back_while_the_web_process_acks(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers`: the acking process posts its acks in progress on a board that its
    worker processes read; their threads hold back new rows while it is not zero."""
    monkeypatch.setattr(inbox_worker, "HOLD_BACK_S", 60.0)
    board = new_board()
    try:
        web = AcksFirst()
        web.publish(board)
        elsewhere = AcksElsewhere(board)  # as a worker process maps it
        runner = Recorder(db, "w1")
        worker = InboxWorker(
            InboxStore(db, "w1"), runner, clock, threads=1, poll_seconds=0.05, acks=elsewhere
        )
        store_requests(db, clock, 1)
        try:
            with web.acking(), web.acking():
                assert elsewhere.in_progress() == 2
                worker.start()
                wait_until(lambda: elsewhere.held_back() == 1)
                assert runner.ran == []
            assert elsewhere.in_progress() == 0
            wait_until(lambda: runner.ran == [1])
        finally:
            worker.stop(drain_seconds=30)
    finally:
        board.unlink()


@pytest.mark.parametrize("reader", ["this process", "a worker process"])
def test_a_thread_held_back_goes_on_after_at_most_its_wait(reader: str) -> None:
    """However long the acks last, a worker thread waits for them ``at_most`` seconds (one
    reading the board as long); with none in progress it does not wait at all."""
    board = new_board()
    try:
        web = AcksFirst()
        web.publish(board)
        acks = web if reader == "this process" else AcksElsewhere(board)
        assert acks.wait_for_none(60.0)
        with web.acking():
            start = time.monotonic()
            assert not acks.wait_for_none(0.05)
            assert 0.04 <= time.monotonic() - start < 5.0
            assert acks.held_back() == 0  # no longer waiting
        assert acks.wait_for_none(60.0)
    finally:
        board.unlink()

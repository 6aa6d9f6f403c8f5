"""The ack path's group commit on SQLite and PostgreSQL: concurrent acks share a
transaction, a repeated delivery is stored once, and a request that cannot be stored
within the ack's budget is given up (answered 503) instead of acked too late."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from storage.inbox import InboxStore, InboxWriter, new_row
from storage.models import InboxRow
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock
from tests.waiting import wait_until

COLUMNS = len(new_row(TEAM, "", "command", {}, datetime.now(UTC)))  # bound per row


def keys(db: Database) -> list[str]:
    with db.read() as uow:
        return sorted(uow.session.scalars(select(InboxRow.key)))


@contextmanager
def inserts_held(db: Database) -> Iterator[tuple[threading.Event, threading.Event, list[int]]]:
    """(entered, release, sizes): the first inbox INSERT waits for ``release`` after setting
    ``entered``; ``sizes`` lists the rows of every inbox INSERT."""
    entered, release, sizes = threading.Event(), threading.Event(), []

    def hold(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("INSERT INTO inbox"):
            # One statement per batch: its parameters are every row's columns in turn.
            sizes.append(len(params) // COLUMNS)
            if not entered.is_set():
                entered.set()
                assert release.wait(20), "the test never released the first INSERT"

    event.listen(db.engine, "before_cursor_execute", hold)
    try:
        yield entered, release, sizes
    finally:
        release.set()
        event.remove(db.engine, "before_cursor_execute", hold)


def add_in_threads(writer: InboxWriter, clock: Clock, names: list[str]) -> dict[str, str]:
    answers: dict[str, str] = {}

    def add(name: str) -> None:
        answers[name] = writer.add(TEAM, name, "command", {"text": name}, clock())

    threads = [threading.Thread(target=add, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_a_stored_request_reads_back_as_it_was_given(db: Database, clock: Clock) -> None:
    body = {"command": "/exp", "text": "new churn Better & faster — “quoted”", "n": [1, None]}
    assert InboxWriter(db).add(TEAM, "k", "command", body, clock()) == ""

    (item,) = InboxStore(db, "w").claim(clock())
    assert (item.team_id, item.kind, item.body, item.attempts) == (TEAM, "command", body, 1)
    assert item.received_at == clock()  # a UTC instant, on both databases


def test_acks_that_arrive_during_a_write_share_the_next_transaction(
    db: Database, clock: Clock
) -> None:
    writer = InboxWriter(db, wait=30)  # the budget is not what this is about
    woken: list[int] = []
    db.on_inbox(lambda urgent: woken.append(1))
    with inserts_held(db) as (entered, release, sizes):
        first = threading.Thread(target=writer.add, args=(TEAM, "a0", "command", {}, clock()))
        first.start()
        assert entered.wait(20)
        late = [f"b{n}" for n in range(7)]
        rest = threading.Thread(target=add_in_threads, args=(writer, clock, late))
        rest.start()
        wait_until(lambda: writer.waiting() == 7)  # all seven queued behind the first
        release.set()
        first.join(20)
        rest.join(30)
    assert keys(db) == ["a0", *late]
    assert sizes == [1, 7]  # two transactions for eight acks
    # Each row's columns are its own (the batch's 56 parameters, in the statement's order).
    columns = (InboxRow.team_id, InboxRow.kind, InboxRow.status, InboxRow.attempts)
    with db.read() as uow:
        stored = uow.session.execute(select(InboxRow.key, InboxRow.body, *columns)).all()
        when = uow.session.scalars(select(InboxRow.received_at)).all()
    assert {key: (json.loads(body), *rest) for key, body, *rest in stored if key in late} == {
        name: ({"text": name}, TEAM, "command", "pending", 0) for name in late
    }
    assert set(when) == {clock()}
    assert len(woken) == 2  # the workers are woken once per transaction


def test_a_repeated_delivery_is_stored_once_and_acked_each_time(db: Database, clock: Clock) -> None:
    writer = InboxWriter(db, wait=30)
    with inserts_held(db) as (entered, release, sizes):
        first = threading.Thread(target=writer.add, args=(TEAM, "x", "command", {}, clock()))
        first.start()
        assert entered.wait(20)
        rest = threading.Thread(
            target=lambda: answers.update(add_in_threads(writer, clock, ["x", "y"]))
        )
        answers: dict[str, str] = {}
        rest.start()
        wait_until(lambda: writer.waiting() == 2)
        release.set()
        first.join(20)
        rest.join(30)
    assert answers == {"x": "", "y": ""}  # both acked: Slack stops redelivering
    assert keys(db) == ["x", "y"]
    assert InboxStore(db, "w").counts() == {"pending": 2}


def test_a_request_queued_past_its_budget_is_given_up_not_stored(
    db: Database, clock: Clock
) -> None:
    writer = InboxWriter(db, wait=0.2)
    with inserts_held(db) as (entered, release, _sizes):
        first = threading.Thread(target=writer.add, args=(TEAM, "slow", "command", {}, clock()))
        first.start()
        assert entered.wait(20)
        # The first write is stuck: this one's budget runs out while it waits behind it.
        answer = writer.add(TEAM, "behind", "command", {}, clock())
        assert first.is_alive()  # it gave up while the first write still held the way
        release.set()
        first.join(20)
    assert answer == "not stored within 0.2 s"
    assert keys(db) == ["slow"]


def test_sqlite_another_process_holding_the_lock_past_the_budget(
    sqlite_db: Database, clock: Clock
) -> None:
    path = sqlite_db.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None)  # a worker process's writer
    other.execute("BEGIN IMMEDIATE")
    try:
        answer = InboxWriter(sqlite_db, wait=0.2).add(TEAM, "k", "command", {}, clock())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert answer.startswith("OperationalError") and "locked" in answer
    assert keys(sqlite_db) == []
    # The failed writer gave its connection back with the usual busy timeout, and the
    # lock is free again.
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert InboxWriter(sqlite_db).add(TEAM, "k", "command", {}, clock()) == ""


def test_sqlite_a_long_write_in_this_process_past_the_budget(
    sqlite_db: Database, clock: Clock
) -> None:
    writer = InboxWriter(sqlite_db, wait=0.2)
    with sqlite_db.write() as uow:  # e.g. a worker thread storing an evaluation
        uow.session.execute(sa.text("SELECT 1"))
        answers = add_in_threads(writer, clock, ["k"])  # a request thread
    assert "locked (by this process)" in answers["k"]
    assert keys(sqlite_db) == []


@pytest.mark.postgres
def test_postgres_a_conflicting_insert_in_flight_past_the_budget(
    pg_db: Database, clock: Clock
) -> None:
    writer = InboxWriter(pg_db, wait=0.2)
    with pg_db.engine.connect() as other:  # the same delivery, being stored elsewhere
        with other.begin() as transaction:
            other.execute(
                sa.insert(InboxRow).values(
                    team_id=TEAM, key="k", kind="command", body="{}",
                    received_at=clock(), status="pending", attempts=0,
                )
            )  # fmt: skip
            answer = writer.add(TEAM, "k", "command", {}, clock())
            transaction.rollback()
    assert "statement timeout" in answer
    assert keys(pg_db) == []
    assert writer.add(TEAM, "k", "command", {}, clock()) == ""
    assert keys(pg_db) == ["k"]


def test_sqlite_an_ack_goes_before_writers_that_waited_longer(
    sqlite_db: Database, clock: Clock
) -> None:
    """A worker's write and then an ack both wait for this process's writer lock: the ack
    is stored first, so a busy worker pool does not keep Slack waiting."""
    order: list[str] = []
    lock = sqlite_db.factories.write_lock
    assert lock is not None

    def worker_write() -> None:
        with sqlite_db.write() as uow:
            uow.session.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: waits for the lock
            order.append("worker")
            uow.commit()

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO inbox"):
            order.append("ack")

    event.listen(sqlite_db.engine, "before_cursor_execute", record)
    with sqlite_db.write() as holder:  # a write in progress holds the lock
        holder.session.execute(sa.text("SELECT 1"))
        worker = threading.Thread(target=worker_write)
        worker.start()
        wait_until(lambda: lock.waiting() == (1, 0))  # the worker's write queued first
        ack = threading.Thread(target=add_in_threads, args=(InboxWriter(sqlite_db), clock, ["k"]))
        ack.start()
        wait_until(lambda: lock.waiting() == (2, 1))  # then the ack
        holder.commit()
    worker.join(20)
    ack.join(20)
    assert order == ["ack", "worker"]
    assert keys(sqlite_db) == ["k"]


def test_a_form_is_stored_urgent_and_other_requests_are_not(db: Database, clock: Clock) -> None:
    writer = InboxWriter(db)
    assert writer.add(TEAM, "a", "command", {}, clock()) == ""
    assert writer.add(TEAM, "form", "command", {}, clock(), urgent=True) == ""

    (claimed,) = InboxStore(db, "w").claim(clock(), limit=5, urgent_only=True)
    assert claimed.urgent and claimed.id == 2
    assert keys(db) == ["a", "form"]


@pytest.mark.postgres
def test_postgres_a_connection_the_server_dropped_is_replaced_within_the_ack(
    pg_db: Database, clock: Clock
) -> None:
    """The writer keeps its connection between acks; when the server has dropped it (a
    restart, an idle timeout), the next ack is stored on a new one, not answered 503."""
    writer = InboxWriter(pg_db)
    assert writer.add(TEAM, "before", "command", {}, clock()) == ""
    kept = writer._connection  # the connection it keeps between acks
    assert kept is not None
    backend = kept.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
    with pg_db.engine.connect() as admin:
        dropped = admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})").all()
    assert dropped == [(True,)]

    assert writer.add(TEAM, "after", "command", {}, clock()) == ""
    assert keys(pg_db) == ["after", "before"]

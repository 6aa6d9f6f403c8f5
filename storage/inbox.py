"""The inbox: Slack requests stored before their ack, claimed by workers under a lease.

The ack path makes one short idempotent INSERT (``Inbox.add``); a worker claims rows
(``InboxStore.claim``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer),
renews its lease while a row runs, and marks the row done in the transaction of the
row's effect (``Inbox.finish``), so a crash either keeps both or neither. A lease that
runs out (its process died) lets any worker take the row over; the worker that lost it
learns so from its heartbeat (``renew``) or by asking (``holds``) before it answers.

Rows answered by opening a form are ``urgent``: Slack's trigger_id is good for 3 s, so
claims take them first, and a worker keeps one thread for them alone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.db import NO_BUSY_WAIT, WRITE, WRITE_WAIT, WRITER_LOCK
from storage.models import InboxRow
from storage.sql import affected, insert_ignoring_conflicts

if TYPE_CHECKING:  # the unit of work holds an Inbox: import the Database for types only
    from storage.unit_of_work import Database


log = logging.getLogger(__name__)
# How long the ack path may wait to store a request: Slack gives the whole ack 3 s, and a
# request acked later has already been shown to its user as failed.
ACK_WAIT_S = 2.0
# The writer's PostgreSQL session lets a statement run ACK_WAIT_S; a write whose newest row
# has less time left than that, by more than this, bounds its statement to that time.
SESSION_TIMEOUT_SLACK_S = 0.05


class LeaseLost(RuntimeError):
    """Another worker took the row over (our lease ran out): this attempt must not commit."""


@dataclass(frozen=True)
class InboxItem:
    """A claimed row; ``attempts`` counts this one (with the owner, it names the lease)."""

    id: int
    team_id: str
    kind: str
    body: dict[str, Any]
    received_at: datetime
    attempts: int
    urgent: bool = False
    # The lease's end as this claim set it: until half of it is left, holds() needs no read.
    leased_until: datetime | None = None
    # Set when this attempt's lease was found taken over (InboxWorker's heartbeat).
    lost: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


def new_row(
    team_id: str, key: str, kind: str, body: dict[str, Any], now: datetime, urgent: bool = False
) -> dict[str, Any]:
    """The columns of a request just received (``urgent``: answered by opening a form)."""
    return {
        "team_id": team_id,
        "key": key,
        "kind": kind,
        "body": json.dumps(body, separators=(",", ":")),
        "received_at": now,
        "urgent": urgent,
        "status": "pending",
        "attempts": 0,
    }


class Inbox:
    """The inbox inside a unit of work: store a request, settle a row with its effect."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.added = 0

    def add(self, team_id: str, key: str, kind: str, body: dict[str, Any], now: datetime) -> bool:
        """Store a request; False when this delivery was stored already (acked all the same)."""
        stored = insert_ignoring_conflicts(
            self.session, InboxRow, new_row(team_id, key, kind, body, now)
        )
        self.added += int(stored)
        return stored

    def finish(self, item: InboxItem, owner: str, now: datetime) -> None:
        """Mark the row done in this transaction; LeaseLost if another worker holds it."""
        self._settle(item, owner, status="done", done_at=now, lease_until=None)

    def park(self, item: InboxItem, owner: str, now: datetime, error: str) -> None:
        """Give up on the row (its user is told in the same transaction by the caller)."""
        self._settle(
            item, owner, status="parked", done_at=now, lease_until=None, last_error=error[:500]
        )

    def _settle(self, item: InboxItem, owner: str, **values: Any) -> None:
        taken = affected(
            self.session.execute(
                update(InboxRow)
                .where(held_by(item, owner))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if taken != 1:
            raise LeaseLost(f"inbox row {item.id} is no longer held by {owner}")

    def forget_done_before(self, cutoff: datetime) -> int:
        """Delete rows finished before ``cutoff`` (parked ones stay for inspection)."""
        statement = delete(InboxRow).where(InboxRow.status == "done", InboxRow.done_at < cutoff)
        return affected(self.session.execute(statement))


def held_by(item: InboxItem, owner: str) -> ColumnElement[bool]:
    """The row is still pending under this attempt's lease (a takeover by another thread
    of the same process changes ``attempts``, if not the owner)."""
    return and_(
        InboxRow.id == item.id,
        InboxRow.status == "pending",
        InboxRow.lease_owner == owner,
        InboxRow.attempts == item.attempts,
    )


class _Wake:
    """A one-shot wake-up for the one thread that waits on it: a lock taken at birth and
    released by ``set``. threading.Event builds a Condition and a waiter lock per wait;
    with a dozen request threads woken per group commit, that was ~5% of an ack's CPU."""

    __slots__ = ("_lock", "_done")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._done = False

    def set(self) -> None:
        with suppress(RuntimeError):  # set already (a lead is woken, then answered)
            self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        """True once set (at once, ever after); False when ``timeout`` ran out first."""
        if self._done:
            return True
        if self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self._done = True
        return self._done


@dataclass(eq=False)
class _Queued:
    values: dict[str, Any]
    deadline: float  # time.monotonic() by which it is stored or given up
    woken: _Wake = field(default_factory=_Wake)
    lead: bool = False  # woken to write the queue, not with an answer
    why: str | None = None  # None while waiting; "" once stored, else why it was not


class InboxWriter:
    """The ack path's INSERTs, many to a transaction (group commit); one per Database (it
    keeps a connection of the pool between writes).

    Each request thread queues its row; one that finds no write in progress takes every row
    queued so far and stores them in one transaction while the next arrivals queue behind
    it, then wakes the first of those to write the rest. A burst of N acks costs a few
    commits instead of N, each waiting its turn for the write lock. A row that cannot be
    stored within ``wait`` seconds of ``add`` (the database busy or away) is given up: its
    request is answered 503 rather than acked too late to count.
    """

    def __init__(self, db: Database, wait: float = ACK_WAIT_S) -> None:
        self.db = db
        self.wait = wait
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._writing = False
        self._closed = False
        self._postgres = db.engine.dialect.name == "postgresql"
        self._insert = _CompiledInsert(db.engine.dialect)
        # Kept between writes, used by the one write in progress: no pool checkout per ack
        # and, on PostgreSQL, no ping (a connection found dead is replaced once per write).
        self._connection: Connection | None = None
        db.on_close(self.close)

    def add(
        self,
        team_id: str,
        key: str,
        kind: str,
        body: dict[str, Any],
        now: datetime,
        urgent: bool = False,
        since: float | None = None,
    ) -> str:
        """Store a request (a repeated delivery stores nothing): "" once it is stored, else
        why it could not be. Its ``wait`` counts from ``since`` (the time.monotonic() at
        which the request arrived, when it waited for a thread first), else from now."""
        lock = self.db.factories.write_lock
        if lock is not None and lock.held():  # its own write would hold the batch up
            raise RuntimeError("InboxWriter.add inside a write unit of work of this thread")
        start = time.monotonic() if since is None else since
        mine = _Queued(new_row(team_id, key, kind, body, now, urgent), start + self.wait)
        with self._lock:
            self._queue.append(mine)
            lead = not self._writing
            self._writing = True
        if not lead and not self._wait_for_turn(mine):
            return f"not stored within {self.wait:g} s"
        if mine.why is None:  # woken to write the queue (its own row among them), not answered
            self._write()
        return str(mine.why)

    def _wait_for_turn(self, mine: _Queued) -> bool:
        """Until a write answers for ``mine`` or hands this thread the queue (``mine.why``
        still None); False when its time ran out while still queued (it is taken out:
        nothing stores it)."""
        if mine.woken.wait(max(0.0, mine.deadline - time.monotonic())):
            return True
        with self._lock:
            if mine in self._queue and not mine.lead:
                self._queue.remove(mine)
                return False
        # A write took it: that write gives up on rows past their time after the lock
        # (see _insert_rows), so its answer comes soon after the deadline at the latest.
        mine.woken.wait()
        return True

    def waiting(self) -> int:
        """Requests queued behind the write in progress."""
        with self._lock:
            return len(self._queue)

    def _write(self) -> None:
        """Store the queue in one transaction (waiting for the lock as long as its newest
        request may); answer each, then hand the next queue to its first request."""
        with self._lock:
            batch, self._queue = self._queue, []
        stored: list[_Queued] = []
        why = "interrupted"
        try:
            stored = self._insert_rows(batch)
            why = ""
        except Exception as exc:  # the database is busy or away: these are not stored
            why = f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:  # whatever happened, nobody is left waiting
            for queued in batch:
                late = not why and queued not in stored
                queued.why = f"not stored within {self.wait:g} s" if late else why
                queued.woken.set()
            with self._lock:
                if self._queue:  # arrived meanwhile: the first of them writes them
                    self._queue[0].lead = True
                    self._queue[0].woken.set()
                else:
                    self._writing = False
        if stored:
            try:
                self.db.notify_inbox(urgent=any(queued.values["urgent"] for queued in stored))
            except Exception:  # stored all the same: a worker's poll finds them
                log.exception("inbox: waking the workers failed")

    def _insert_rows(self, batch: list[_Queued]) -> list[_Queued]:
        """Insert the rows of ``batch`` still in time once the lock is ours, in one
        transaction; the rows inserted. A connection found dead (the database restarted,
        say) is replaced once and the rows written again: whether or not the first commit
        reached the database, a row is stored once (a repeated key inserts nothing)."""
        for attempt in (1, 2):
            rows: list[_Queued] = []
            latest = max((queued.deadline for queued in batch), default=0.0)
            wait = latest - time.monotonic()
            if wait <= 0:
                return []
            connection = self._connect(wait)
            try:
                # SQLite: BEGIN IMMEDIATE, under the writer lock. PostgreSQL: autocommit,
                # the one INSERT of every row is its own transaction (one round trip).
                with connection.begin():
                    now = time.monotonic()
                    rows = [queued for queued in batch if queued.deadline > now]
                    if rows:
                        with self._bounded(connection, wait):
                            self._insert.execute(connection, [queued.values for queued in rows])
                return rows
            except Exception as exc:
                self._connection = None  # the next write starts on a fresh connection
                _discard(connection)
                dead = isinstance(exc, DBAPIError) and exc.connection_invalidated
                if not (dead and attempt == 1):
                    raise
            finally:
                self._give_back_lock()
        return []  # not reached: the second attempt returns or raises

    def _connect(self, wait: float) -> Connection:
        if self._closed:
            raise RuntimeError("the inbox writer is closed (the process is stopping)")
        if self._connection is None:
            self._connection = self._own_connection()
        lock = self.db.factories.write_lock
        # SQLAlchemy 2.0 sets these on the connection itself (for storage.db's BEGIN).
        self._connection.execution_options(**WRITE, **{WRITER_LOCK: lock, WRITE_WAIT: wait})
        return self._connection

    @contextmanager
    def _bounded(self, connection: Connection, wait: float) -> Iterator[None]:
        """On PostgreSQL, the INSERT may run ``wait`` seconds at most: the session's
        statement_timeout (the writer's own) is ``self.wait``; a batch whose newest row has
        waited (a slow write before it) sets its own for its one statement."""
        if not self._postgres or wait >= self.wait - SESSION_TIMEOUT_SLACK_S:
            yield
            return
        self._set_timeout(connection, max(1, int(wait * 1000)))
        try:
            yield
        finally:
            self._set_timeout(connection, int(self.wait * 1000))

    def _set_timeout(self, connection: Connection, milliseconds: int) -> None:
        """The writer's session statement_timeout (PostgreSQL), through SQLAlchemy like the
        INSERT (a connection found dead is reported the same way)."""
        if self._insert.raw:  # the raw cursor takes $n placeholders and a sequence
            sql = "SELECT set_config('statement_timeout', $1, false)"
            connection.exec_driver_sql(sql, (str(milliseconds),)).close()
        else:
            connection.exec_driver_sql(f"SET statement_timeout = {milliseconds}").close()

    def _own_connection(self) -> Connection:
        """A connection set up once for the ack path's short writes (and so discarded, not
        given back to the pool). On PostgreSQL it autocommits (a batch is one INSERT
        statement, atomic by itself: no BEGIN and COMMIT round trips) and a statement
        never waits longer than an ack may (a conflicting row still being written holds
        the INSERT). On SQLite the busy handler is off, as BEGIN polls for the lock
        (storage.db._begin_polling). These settings must never reach another user of the
        pool (on PostgreSQL, every query with parameters would fail on the raw cursor):
        the writer lives as long as its Database, whose close() discards the connection."""
        connection = self.db.factories.engine.connect()
        try:
            if self._postgres:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                if self._insert.raw:
                    import psycopg

                    # Only this connection, which never returns to the pool: see _CompiledInsert.
                    driver: Any = connection.connection.driver_connection
                    driver.cursor_factory = psycopg.RawCursor
                self._set_timeout(connection, int(self.wait * 1000))
                connection.commit()
            else:
                lite: Any = connection.connection.driver_connection  # no transaction
                lite.execute("PRAGMA busy_timeout=0")
                connection.execution_options(**{NO_BUSY_WAIT: True})
        except Exception:
            _discard(connection)
            raise
        return connection

    def _give_back_lock(self) -> None:
        """The SQLite writer lock, taken at BEGIN by storage.db, ends with the transaction
        (as UnitOfWork gives it back); this thread held none before (see add)."""
        lock = self.db.factories.write_lock
        if lock is not None:
            lock.give_back(0)

    def close(self) -> None:
        """Give the writer's connection back; later writes are refused (503)."""
        with self._lock:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            _discard(connection)


def _discard(connection: Connection) -> None:
    """Close the writer's connection for good: its settings must not reach the pool."""
    try:
        connection.invalidate()
    finally:
        connection.close()


class _CompiledInsert:
    """INSERT … ON CONFLICT DO NOTHING of a batch of new inbox rows as one statement (one
    multi-row VALUES: atomic on its own, one round trip), compiled once per batch size.

    SQLAlchemy cannot cache the compiled form of an ON CONFLICT insert, and compiling it
    for every ack took a quarter of the ack's CPU. Each value goes through its column
    type's bind processor for the dialect, which is what SQLAlchemy applies itself.

    On psycopg (``raw``) the statement is compiled with PostgreSQL's own ``$n``
    placeholders and sent through psycopg's RawCursor, which the writer's connection uses:
    psycopg rewrites ``%(name)s`` placeholders into ``$n`` on every execute of a statement
    with more than 50 parameters (it caches the rewrite only for smaller ones), and that
    cost a batch of 7 rows or more (8 columns each) 0.2-0.4 ms of CPU more than a batch of
    6: measured in benchmarks/README.md.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.raw = dialect.name == "postgresql" and dialect.driver == "psycopg"
        # A dialect of the same kind only to compile with: the engine's keeps its own style.
        style: Any = type(dialect)
        self._compiling: Dialect = style(paramstyle="numeric_dollar") if self.raw else dialect
        self.table = InboxRow.__table__
        self.names = list(new_row("", "", "", {}, datetime.now(UTC)))
        self.processors = {
            name: self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            or (lambda value: value)
            for name in self.names
        }
        self._compiled: dict[int, tuple[str, list[str] | None]] = {}
        self._lock = threading.Lock()

    def _statement(self, size: int) -> tuple[str, list[str] | None]:
        """(SQL, the order of its positional parameters, or None for named ones)."""
        with self._lock:
            found = self._compiled.get(size)
        if found is not None:
            return found
        rows = [
            {name: bindparam(f"{name}_{i}", type_=self.table.c[name].type) for name in self.names}
            for i in range(size)
        ]
        module: Any = postgresql if self.dialect.name == "postgresql" else sqlite
        statement = module.insert(self.table).values(rows).on_conflict_do_nothing()
        compiled = statement.compile(dialect=self._compiling)
        expected = {f"{name}_{i}" for name in self.names for i in range(size)}
        order = list(compiled.positiontup or ()) if compiled.positional else None
        # A new column must come through new_row; each bound once, in a known place.
        if set(compiled.params) != expected or (order is not None and len(order) != len(expected)):
            raise RuntimeError(f"inbox INSERT binds {sorted(compiled.params)} as {order}")
        found = (compiled.string, order)
        with self._lock:
            self._compiled[size] = found
        return found

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        sql, order = self._statement(len(rows))
        params = {
            f"{name}_{i}": self.processors[name](value)
            for i, row in enumerate(rows)
            for name, value in row.items()
        }
        if order is None:
            connection.exec_driver_sql(sql, params)
        else:
            connection.exec_driver_sql(sql, tuple(params[name] for name in order))


class InboxStore:
    """A worker's side of the inbox: claim free rows, keep them, let them go on failure."""

    def __init__(self, db: Database, owner: str, lease: timedelta = timedelta(seconds=10)) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease

    @staticmethod
    def _free(now: datetime) -> ColumnElement[bool]:
        return or_(InboxRow.lease_until.is_(None), InboxRow.lease_until < now)

    def claim(
        self,
        now: datetime,
        limit: int = 1,
        received_by: datetime | None = None,
        urgent_only: bool = False,
    ) -> list[InboxItem]:
        """Lease up to ``limit`` pending rows that no live worker holds, urgent ones first,
        then oldest first (only urgent ones with ``urgent_only``; only those received by
        ``received_by``, when given: a drain's rows)."""
        pending: ColumnElement[bool] = InboxRow.status == "pending"
        if urgent_only:
            pending = and_(pending, InboxRow.urgent)
        if received_by is not None:
            pending = and_(pending, InboxRow.received_at <= received_by)
        if self.db.engine.dialect.name == "sqlite":
            # Most polls find nothing: a read tells, without taking SQLite's one write lock.
            # (PostgreSQL's claim below finds nothing as cheaply, with no lock to wait for.)
            with self.db.read() as uow:
                free = select(InboxRow.id).where(pending, self._free(now)).limit(1)
                if uow.session.scalar(free) is None:
                    return []
        # One statement: choose the rows (passing over those another worker is claiming on
        # PostgreSQL) and lease them, each one's attempt counted. The choice is a
        # materialized CTE, run once: as `id IN (subquery)` PostgreSQL may run it again per
        # row and lease more than ``limit``.
        chosen = (
            select(InboxRow.id)
            .where(pending, self._free(now))
            .order_by(InboxRow.urgent.desc(), InboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("chosen")
            .prefix_with("MATERIALIZED")
        )
        until = now + self.lease
        with self.db.write() as uow:
            rows = uow.session.execute(
                update(InboxRow)
                .where(InboxRow.id == chosen.c.id, pending, self._free(now))
                .values(lease_owner=self.owner, lease_until=until, attempts=InboxRow.attempts + 1)
                .returning(
                    InboxRow.id,
                    InboxRow.team_id,
                    InboxRow.kind,
                    InboxRow.body,
                    InboxRow.received_at,
                    InboxRow.attempts,
                    InboxRow.urgent,
                )
                .execution_options(synchronize_session=False)
            ).all()
            claimed = [  # read before the commit: a body that does not parse leases nothing
                InboxItem(id, team, kind, json.loads(body), received, attempts, urgent, until)
                for id, team, kind, body, received, attempts, urgent in rows
            ]
            uow.commit()
        return sorted(claimed, key=lambda item: (not item.urgent, item.id))  # RETURNING's is any

    def renew(self, ids: list[int], now: datetime) -> list[int]:
        """Extend the lease of rows still running here (the heartbeat); returns those of
        ``ids`` no longer held here (another worker took them over after our lease ran out,
        or they were settled meanwhile). A lease is never shortened: a heartbeat whose
        ``now`` was read before a slow write must not cut short the lease of a claim made
        meanwhile by another thread of this worker (which trusts its claim's lease, see
        holds)."""
        if not ids:
            return []
        until = now + self.lease
        later = case((InboxRow.lease_until > until, InboxRow.lease_until), else_=until)
        with self.db.write() as uow:
            renewed = uow.session.scalars(
                update(InboxRow)
                .where(
                    InboxRow.id.in_(ids),
                    InboxRow.status == "pending",
                    InboxRow.lease_owner == self.owner,
                )
                .values(lease_until=later)
                .returning(InboxRow.id)
                .execution_options(synchronize_session=False)
            ).all()
            uow.commit()
        return sorted(set(ids) - set(renewed))

    def holds(self, item: InboxItem, now: datetime) -> bool:
        """Whether this attempt still holds ``item``, with time left to act on it: asked
        before anything its user would see twice. Within the first half of the lease its
        claim took, nothing to read (rows are taken over only once a lease has run out);
        later a read, and a lease that has run low (the heartbeat fell behind, or the
        process stalled) is renewed if still ours."""
        if item.lost.is_set():
            return False
        if item.leased_until is not None and item.leased_until - now >= self.lease / 2:
            return True  # the lease this claim took: nobody may take the row before it ends
        with self.db.read() as uow:
            lease_until = uow.session.scalar(
                select(InboxRow.lease_until).where(held_by(item, self.owner))
            )
        if lease_until is None:
            return False
        if lease_until - now >= self.lease / 2:
            return True
        with self.db.write() as uow:
            renewed = affected(
                uow.session.execute(
                    update(InboxRow)
                    .where(held_by(item, self.owner))
                    .values(lease_until=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
            )
            uow.commit()
        return renewed == 1

    def retry_later(
        self, item: InboxItem, at: datetime, error: str, *, counted: bool = True
    ) -> None:
        """Let the row go after a failed attempt; any worker may take it from ``at``.
        An attempt not ``counted`` (the database failed, not the request) is given back."""
        attempts = InboxRow.attempts if counted else InboxRow.attempts - 1
        with self.db.write() as uow:
            uow.session.execute(
                update(InboxRow)
                .where(held_by(item, self.owner))
                .values(lease_owner=None, lease_until=at, last_error=error[:500], attempts=attempts)
                .execution_options(synchronize_session=False)
            )
            uow.commit()

    def pending_count(self) -> int:
        """Requests waiting for a worker (for /metrics; uses the pending rows' index)."""
        with self.db.read() as uow:
            statement = select(func.count()).where(InboxRow.status == "pending")
            return int(uow.session.scalar(statement) or 0)

    def counts(self) -> dict[str, int]:
        """Rows per status (for inspection and tests)."""
        with self.db.read() as uow:
            rows = uow.session.execute(
                select(InboxRow.status, func.count()).group_by(InboxRow.status)
            ).all()
        return {str(status): int(n) for status, n in rows}

"""Engines and sessions: SQLite (WAL, busy timeout, foreign keys, BEGIN IMMEDIATE) or PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.errors import ConfigError

SQLITE_BUSY_TIMEOUT_S = 5.0
WRITE = {"mlgov_write": True}
WRITER_LOCK = "mlgov_writer_lock"  # execution option: the WriterLock a write waits for
# Execution option: the longest a write waits for the lock at BEGIN, in seconds (SQLite;
# default SQLITE_BUSY_TIMEOUT_S, in SQLite's busy handler). With it, BEGIN polls instead
# (see _begin_polling): the ack path, which waits less than Slack's 3 s and goes first.
WRITE_WAIT = "mlgov_write_wait"
# Execution option: this connection's busy timeout is 0 already (storage.inbox's writer,
# which keeps a connection of its own): BEGIN polls without setting it and back each time.
NO_BUSY_WAIT = "mlgov_no_busy_wait"
# Connections kept open beyond the pool, closed again when returned (a burst's spare).
MAX_OVERFLOW = 10


def normalise_url(url: str) -> str:
    """Accept the URL forms people paste and pick the driver we ship (psycopg 3)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_db_engine(url: str, *, connections: int = 5, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite every write transaction begins IMMEDIATE.

    ``connections``: how many the pool keeps open, one per thread of the process that may
    hold one at once. A smaller pool closes its overflow on return, so under a burst each
    request beyond it opened a new connection (on PostgreSQL a new backend process).
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a long message
        raise ConfigError(f"DATABASE_URL is not a database URL: {url!r}") from exc
    sqlite = parsed.get_backend_name() == "sqlite"
    # An in-memory SQLite database keeps one connection per thread (no pool to size).
    if not (sqlite and parsed.database in (None, "", ":memory:")):
        kwargs = {"pool_size": connections, "max_overflow": MAX_OVERFLOW, **kwargs}
    if sqlite:
        return _sqlite_engine(url, parsed.database, **kwargs)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"DATABASE_URL must be sqlite:///FILE or postgresql://..., not {parsed.drivername}"
        )
    return create_engine(url, pool_pre_ping=True, future=True, **kwargs)


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names, when no such file exists (else None)."""
    try:
        parsed = make_url(normalise_url(url))
    except Exception:  # not a URL: create_db_engine says so
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    path = os.path.abspath(database)
    return None if os.path.exists(path) else path


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:":
        folder = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(folder):
            raise ConfigError(f"DATABASE_URL points into a missing folder: {folder}")
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, so writers can take the
        # lock up front: a deferred transaction that reads then writes fails at once
        # with "database is locked" under contention, whatever the busy timeout.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        options = connection.get_execution_options()
        write = options.get("mlgov_write", False)
        lock: WriterLock | None = options.get(WRITER_LOCK)
        wait: float | None = options.get(WRITE_WAIT)
        started = time.monotonic()
        taken = lock is None or (
            lock.take(SQLITE_BUSY_TIMEOUT_S)
            if wait is None
            else lock.take(wait, first=True)  # the ack path: ahead of the other writers
        )
        if not taken:
            # As SQLite's busy timeout would have failed it (a unit of work says "busy").
            locked = sqlite3.OperationalError("database is locked (by this process)")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        try:
            if wait is None:
                connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            else:
                driver = connection.connection.driver_connection
                _begin_polling(driver, started + wait, options.get(NO_BUSY_WAIT, False))
        except BaseException:
            if lock is not None:
                lock.give_back(lock.held() - 1)
            raise

    return engine


POLL_S = 0.0005


def _begin_polling(driver: sqlite3.Connection, deadline: float, no_busy_wait: bool) -> None:
    """BEGIN IMMEDIATE, trying again every POLL_S until ``deadline`` (time.monotonic()).

    For the ack path: SQLite's busy handler sleeps in growing steps (up to 100 ms) while
    another process writes, so a waiting ack would sleep on long after the lock is free;
    polling takes it within POLL_S, ahead of the workers' writers asleep in the handler.
    ``no_busy_wait``: the connection's busy timeout is 0 already, and stays so.
    """
    if not no_busy_wait:
        driver.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(POLL_S)
    finally:
        if not no_busy_wait:
            driver.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")


class WriterLock:
    """Queues this process's SQLite writers in Python, from BEGIN IMMEDIATE to the end of
    their unit of work; a writer that comes ``first`` (the ack path) goes before the others.

    A writer that finds SQLite's lock taken waits in SQLite's busy handler, which sleeps
    in growing steps (up to 100 ms), so the lock sat idle long after it was freed and an
    ack's one INSERT waited behind those sleeps. Re-entrant: a thread that opens a write
    inside its own write is no worse off than without it (it meets SQLite's busy timeout
    rather than a deadlock). Other processes still go through the busy handler.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._first_waiting = 0
        self._waiting = 0

    def waiting(self) -> tuple[int, int]:
        """(writers, of which first) waiting for it now."""
        with self._changed:
            return self._waiting, self._first_waiting

    def take(self, timeout: float, first: bool = False) -> bool:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return True
            self._waiting += 1
            self._first_waiting += first
            try:
                free = self._changed.wait_for(
                    lambda: self._owner is None and (first or not self._first_waiting), timeout
                )
            finally:
                self._waiting -= 1
                self._first_waiting -= first
            if not free:
                return False
            self._owner, self._depth = me, 1
            return True

    def held(self) -> int:
        """How many times this thread holds it."""
        with self._changed:
            return self._depth if self._owner == threading.get_ident() else 0

    def give_back(self, down_to: int) -> None:
        """Release until this thread holds it ``down_to`` times."""
        with self._changed:
            if self._owner != threading.get_ident() or self._depth <= down_to:
                return
            self._depth = down_to
            if not down_to:
                self._owner = None
                self._changed.notify_all()


class SessionFactories:
    """Read and write session makers over one engine; on SQLite, the write sessions'
    transactions queue on ``write_lock`` (PostgreSQL needs none: it locks rows)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self.write_lock = WriterLock() if sqlite else None
        self.reader = sessionmaker(bind=engine, expire_on_commit=False)
        writes = engine.execution_options(**WRITE, **{WRITER_LOCK: self.write_lock})
        self.writer = sessionmaker(bind=writes, expire_on_commit=False)

    def session(self, write: bool) -> Session:
        return (self.writer if write else self.reader)()

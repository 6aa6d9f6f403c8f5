"""A rehearsal: work run against the real database, then undone, to show what it would do.

Every unit of work inside it shares one connection whose transaction is rolled back at
the end; a unit's ``commit()`` only releases a savepoint. So the work sees the real data
and its own changes, and leaves nothing behind: no ledger claims, no audit rows, no
outbox rows. The Slack messages it would have queued are kept in memory to be shown.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bot.domain.model import OutgoingMessage
from storage.db import WRITE, SessionFactories
from storage.repositories import Outbox
from storage.unit_of_work import Database, UnitOfWork


class Rehearsal:
    """``with Rehearsal(db) as rehearsal:`` run services on ``rehearsal.db``; read
    ``rehearsal.queued`` for the messages they would have sent. Nothing is kept."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self.queued: list[OutgoingMessage] = []

    def __enter__(self) -> Rehearsal:
        # A write transaction from the start (BEGIN IMMEDIATE on SQLite), like a unit of
        # work's: reading first and writing later fails at once under contention.
        self._connection = self._engine.connect().execution_options(**WRITE)
        self._connection.begin()
        self.db: Database = _RehearsalDatabase(_OneConnection(self._connection), self.queued)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._connection.rollback()
        finally:
            self._connection.close()


class _OneConnection(SessionFactories):
    """Sessions that join the rehearsal's transaction through savepoints."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection.engine)
        self._connection = connection

    def session(self, write: bool) -> Session:
        return Session(
            bind=self._connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )


class _RehearsalDatabase(Database):
    def __init__(self, factories: SessionFactories, queued: list[OutgoingMessage]) -> None:
        super().__init__(factories)
        self._queued = queued

    def write(self) -> UnitOfWork:
        return _RehearsedUnit(self.factories, self._queued)


class _RehearsedUnit(UnitOfWork):
    """A unit of work that remembers the messages it committed to the outbox."""

    def __init__(self, factories: SessionFactories, queued: list[OutgoingMessage]) -> None:
        super().__init__(factories, write=True)
        self._queued = queued

    def __enter__(self) -> _RehearsedUnit:
        super().__enter__()
        self.outbox = _RecordingOutbox(self.session)
        return self

    def commit(self) -> None:
        super().commit()
        assert isinstance(self.outbox, _RecordingOutbox)
        self._queued.extend(self.outbox.messages)
        self.outbox.messages.clear()


class _RecordingOutbox(Outbox):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.messages: list[OutgoingMessage] = []

    def add(self, message: OutgoingMessage, now: datetime) -> None:
        super().add(message, now)
        self.messages.append(message)

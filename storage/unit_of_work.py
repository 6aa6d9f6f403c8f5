"""One use case, one transaction: the unit of work services use."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.domain.errors import MlgovError, StorageError
from storage.audit import Audit
from storage.calendar_keys import CalendarKeys
from storage.db import SessionFactories
from storage.delivery_state import DeliveryState
from storage.digest_data import DigestReads
from storage.digests import DigestSubscriptions
from storage.evaluations import Evaluations
from storage.experiments import Experiments
from storage.home import Homes
from storage.inbox import Inbox
from storage.ledger import RunLedger
from storage.mlflow_runs import MlflowRuns
from storage.pauses import Pauses
from storage.registry import RegistryVersions
from storage.repositories import (
    Members,
    Outbox,
    ProcessedEvents,
    Projects,
    Workspaces,
)
from storage.reviews import Reviews
from storage.rotations import Rotations
from storage.slack_statuses import StoredStatuses
from storage.snoozes import Snoozes
from storage.swap_requests import SwapRequests


class UnitOfWork:
    """Repositories over one session; leaving without ``commit()`` rolls back.

    Database failures leave as :class:`StorageError` so the edges can answer clearly.
    """

    session: Session

    def __init__(
        self,
        factories: SessionFactories,
        write: bool,
        on_outbox: Callable[[], None] | None = None,
        on_inbox: Callable[[], None] | None = None,
        on_registry: Callable[[], None] | None = None,
    ) -> None:
        self._factories = factories
        self._write = write
        self._on_outbox = on_outbox
        self._on_inbox = on_inbox
        self._on_registry = on_registry
        self._held: int | None = None

    def __enter__(self) -> UnitOfWork:
        lock = self._factories.write_lock
        # What this thread held before: the writer lock, taken at BEGIN, is given back
        # down to it when this unit of work's transaction ends (see storage.db).
        self._held = lock.held() if lock is not None and self._write else None
        self.session = self._factories.session(self._write)
        self.workspaces = Workspaces(self.session)
        self.members = Members(self.session)
        self.projects = Projects(self.session)
        self.experiments = Experiments(self.session)
        self.audit = Audit(self.session)
        self.events = ProcessedEvents(self.session)
        self.outbox = Outbox(self.session)
        self.inbox = Inbox(self.session)
        self.ledger = RunLedger(self.session)
        self.pauses = Pauses(self.session)
        self.delivery = DeliveryState(self.session)
        self.rotations = Rotations(self.session)
        self.swap_requests = SwapRequests(self.session)
        self.calendar_keys = CalendarKeys(self.session)
        self.reviews = Reviews(self.session)
        self.evaluations = Evaluations(self.session)
        self.subscriptions = DigestSubscriptions(self.session)
        self.homes = Homes(self.session)
        self.digest = DigestReads(self.session)
        self.snoozes = Snoozes(self.session)
        self.slack_statuses = StoredStatuses(self.session)
        self.mlflow_runs = MlflowRuns(self.session)
        self.registry = RegistryVersions(self.session)
        return self

    @property
    def writes(self) -> bool:
        """Whether this unit of work may write (and so holds, or may hold, the writer)."""
        return self._write

    def commit(self) -> None:
        if not self._write:
            raise RuntimeError("commit() on a read-only unit of work")
        try:
            if self.audit.changed:  # with the change: their model versions' gate tags
                self.registry.mark_experiments(self.audit.changed, max(self.audit.changed.values()))
            self.session.commit()
        except DBAPIError as exc:
            raise _translate(exc) from exc
        finally:
            self._unlock()  # the transaction ended either way: let the next writer in
        if self.outbox.added and self._on_outbox is not None:
            self._on_outbox()
        if self.inbox.added and self._on_inbox is not None:
            self._on_inbox()
        if self.registry.marked and self._on_registry is not None:
            self._on_registry()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self._unlock()
        if isinstance(exc, DBAPIError) and not isinstance(exc, MlgovError):
            raise _translate(exc) from exc

    def _unlock(self) -> None:
        lock = self._factories.write_lock
        if lock is not None and self._held is not None:
            lock.give_back(self._held)


BUSY = "The database is busy or unreachable; please try again shortly."


def _translate(exc: DBAPIError) -> StorageError:
    if isinstance(exc, IntegrityError):
        return StorageError("That conflicts with something saved meanwhile; please try again.")
    if isinstance(exc, OperationalError):
        return StorageError(BUSY)
    return StorageError("The database refused the change; nothing was saved.")


class Database:
    """The storage port services depend on: hands out units of work."""

    def __init__(self, factories: SessionFactories) -> None:
        self.factories = factories
        self.engine = factories.engine
        self._listeners: list[Callable[[], None]] = []
        self._inbox_listeners: list[Callable[[bool], None]] = []
        self._registry_listeners: list[Callable[[], None]] = []
        self._closers: list[Callable[[], None]] = []

    def on_outbox(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after any commit that queued Slack messages."""
        self._listeners.append(listener)

    def on_inbox(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(urgent)`` after any commit that stored Slack requests in the
        inbox (``urgent``: one of them may be answered by a form)."""
        self._inbox_listeners.append(listener)

    def on_registry(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after any commit that made checks of model versions due."""
        self._registry_listeners.append(listener)

    def _notify_registry(self) -> None:
        for listener in self._registry_listeners:
            listener()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` (give back a connection held between uses) before closing."""
        self._closers.append(closer)

    def close(self) -> None:
        """Close what holds connections, then the engine's pool."""
        for closer in self._closers:
            closer()
        self.engine.dispose()

    def notify_inbox(self, urgent: bool = True) -> None:
        """Tell the listeners that requests were stored (also by storage.inbox.InboxWriter)."""
        for listener in self._inbox_listeners:
            listener(urgent)

    def write(self) -> UnitOfWork:
        return UnitOfWork(
            self.factories,
            write=True,
            on_outbox=self._notify,
            on_inbox=self.notify_inbox,
            on_registry=self._notify_registry,
        )

    def read(self) -> UnitOfWork:
        return UnitOfWork(self.factories, write=False)

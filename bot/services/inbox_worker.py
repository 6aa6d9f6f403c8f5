"""Inbox worker threads: claim stored Slack requests, run them, retry, park, drain on stop.

Each thread claims one row at a time under a short lease that a heartbeat renews while
the row runs, so rows held by a process that was killed are taken over within LEASE by
any worker (this process after a restart, or another one). A row that fails is tried
again after a pause; after MAX_ATTEMPTS attempts it is parked and its user told. Attempts
are counted when a row is claimed, so a row that kills its process is parked too.

One more thread takes only urgent rows (requests answered by a form, whose trigger_id is
good for 3 s), so a form opens even while every other thread runs long work; the others
take urgent rows first too. The heartbeat marks rows whose lease another worker took
over (``InboxItem.lost``): the runner then drops them instead of answering twice.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.domain.errors import StorageError
from storage.inbox import InboxItem, InboxStore, LeaseLost

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=10)
HEARTBEAT_SECONDS = 2.0
POLL_SECONDS = 0.5  # when no commit in this process wakes the threads
MAX_ATTEMPTS = 3
DRAIN_SECONDS = 25.0
STORAGE_RETRY = timedelta(seconds=5)


# How long a worker thread holds back a new row while requests are being acknowledged.
HOLD_BACK_S = 0.25


class _HoldsBack(ABC):
    """Worker threads held back while acks are in progress: AcksFirst and AcksElsewhere
    count them alike and differ in how they see the acks end."""

    def __init__(self) -> None:
        self._counting = threading.Lock()
        self._held_back = 0

    @abstractmethod
    def _until_none(self, at_most: float) -> bool:
        """Wait for no ack in progress, ``at_most`` seconds; False if one still is."""

    def held_back(self) -> int:
        """Worker threads waiting for the acks in progress."""
        with self._counting:
            return self._held_back

    def wait_for_none(self, at_most: float) -> bool:
        """True when no ack is in progress (now or within ``at_most`` seconds)."""
        with self._counting:
            self._held_back += 1
        try:
            return self._until_none(at_most)
        finally:
            with self._counting:
                self._held_back -= 1


class AcksFirst(_HoldsBack):
    """Requests this process is acknowledging right now. Worker threads of the same process
    wait for none to be in progress (at most HOLD_BACK_S) before they take a new row: they
    share Python's GIL with the acks, and a burst is acknowledged before it is worked on.
    Slack gives an ack 3 s; a reply may come later (a response_url lasts 30 minutes)."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()
        self._in_progress = 0
        self._board: mmap.mmap | None = None

    def publish(self, board: Path) -> None:
        """Also keep the count in ``board`` (see AcksElsewhere), for worker processes."""
        with board.open("r+b") as file:
            self._board = mmap.mmap(file.fileno(), BOARD_SIZE)

    @contextmanager
    def acking(self) -> Iterator[None]:
        with self._changed:
            self._in_progress += 1
            self._post()
        try:
            yield
        finally:
            with self._changed:
                self._in_progress -= 1
                self._post()
                if not self._in_progress:
                    self._changed.notify_all()

    def _post(self) -> None:
        if self._board is not None:
            self._board[:BOARD_SIZE] = self._in_progress.to_bytes(BOARD_SIZE, "little")

    def in_progress(self) -> int:
        with self._changed:
            return self._in_progress

    def _until_none(self, at_most: float) -> bool:
        # Woken by the last ack to end: the rows wait no longer than the acks do.
        with self._changed:
            return self._changed.wait_for(lambda: not self._in_progress, at_most)


BOARD_SIZE = 8
BOARD_POLL_S = 0.002


def new_board() -> Path:
    """A small file (in memory where /dev/shm exists) on which the acking process of
    `serve --workers` posts how many requests it is acknowledging."""
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    handle, name = tempfile.mkstemp(prefix="mlgov-acks-", dir=folder)
    with os.fdopen(handle, "wb") as file:
        file.write(bytes(BOARD_SIZE))
    return Path(name)


class AcksElsewhere(_HoldsBack):
    """AcksFirst for a worker process of `serve --workers`: the acking process's count,
    read from its board. The database's and Slack's processes that a worker's requests keep
    busy run beside the acks whatever the worker's priority: holding back new rows while
    the web process answers Slack is what leaves the acks the machine."""

    def __init__(self, board: Path) -> None:
        super().__init__()
        with board.open("rb") as file:
            self._board = mmap.mmap(file.fileno(), BOARD_SIZE, access=mmap.ACCESS_READ)

    def in_progress(self) -> int:
        return int.from_bytes(self._board[:BOARD_SIZE], "little")

    def _until_none(self, at_most: float) -> bool:
        # Another process's count: nothing wakes this one, so it looks every BOARD_POLL_S.
        deadline = time.monotonic() + at_most
        while self.in_progress():
            if time.monotonic() >= deadline:
                return False
            time.sleep(BOARD_POLL_S)
        return True


class Acks(Protocol):
    """What an InboxWorker asks of the acks it lets go first."""

    def wait_for_none(self, at_most: float) -> bool: ...


class Runner(Protocol):
    def run(self, item: InboxItem) -> None:
        """Run the row and settle it; raise to have it tried again."""
        ...

    def give_up(self, item: InboxItem, why: str, tried: int) -> None:
        """Park the row and tell its user."""
        ...


class InboxWorker:
    """``threads`` threads over one InboxStore; ``wake()`` when a request was stored."""

    def __init__(
        self,
        store: InboxStore,
        runner: Runner,
        clock: Callable[[], datetime],
        threads: int = 4,
        poll_seconds: float = POLL_SECONDS,
        acks: Acks | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.acks = acks  # the acks that go first (those of this process, or the web's)
        # One idle thread is woken per stored request (an Event would wake them all, and
        # each would take SQLite's write lock to find the row claimed already).
        self._wake = threading.Condition()
        self._signals = 0  # wake-ups not yet taken by a thread (none is lost in between)
        self._stop = threading.Event()  # no more rows: the drain ended or was cut short
        self._draining = threading.Event()  # take rows until none is left, then stop
        # A drain takes the rows received before the stop, not those another web process
        # keeps storing meanwhile (they wait for the next start, or another worker).
        self._drain_from: datetime | None = None
        self._urgent = threading.Event()  # a wake-up for the forms' thread
        self._running: dict[int, InboxItem] = {}
        self._lock = threading.Lock()
        self._regular = threads
        self._threads = [
            threading.Thread(target=self._loop, args=(False,), name=f"mlgov-inbox-{n}", daemon=True)
            for n in range(threads)
        ]
        self._threads.append(
            threading.Thread(target=self._loop, args=(True,), name="mlgov-inbox-forms", daemon=True)
        )
        self._heartbeat = threading.Thread(
            target=self._beat, name="mlgov-inbox-heartbeat", daemon=True
        )

    def start(self) -> InboxWorker:
        for thread in self._threads:
            thread.start()
        self._heartbeat.start()
        log.info("inbox worker started (%d threads, and one for forms)", self._regular)
        return self

    def wake(self, urgent: bool = True) -> None:
        """Requests were stored: one idle thread looks, and the forms' thread (one read)
        when one of them may be ``urgent``."""
        self._hand_on()
        if urgent:
            self._urgent.set()

    def _hand_on(self) -> None:
        with self._wake:
            self._signals = min(self._signals + 1, self._regular)
            self._wake.notify()

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> bool:
        """Finish the rows held and the ones still pending, for at most ``drain_seconds``;
        what is left stays in the inbox for the next start. True when all finished."""
        deadline = time.monotonic() + drain_seconds
        with self._wake:
            self._drain_from = self.clock()
            self._draining.set()
            self._wake.notify_all()
        self._urgent.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        done = not any(thread.is_alive() for thread in self._threads)
        if not done:
            # Rows still running are abandoned with the process: their leases run out
            # and the next worker runs them again (their effect was never committed).
            log.warning("inbox: stopping with rows still running after %.0fs", drain_seconds)
        self._heartbeat.join(HEARTBEAT_SECONDS + 1)
        return done

    def _loop(self, urgent_only: bool) -> None:
        while not self._stop.is_set():
            if self.acks is not None and not urgent_only and not self._draining.is_set():
                self.acks.wait_for_none(HOLD_BACK_S)  # forms cannot wait: their thread goes
            try:
                claimed = self.store.claim(
                    self.clock(), received_by=self._drain_from, urgent_only=urgent_only
                )
            except Exception:  # a database hiccup: look again after the poll interval
                log.exception("inbox: claiming failed")
                claimed = []
            if not claimed:
                if self._draining.is_set():
                    return  # nothing left to drain
                self._idle(urgent_only)
                continue
            self._hand_on()  # there may be more: to an idle thread (a burst fans out)
            for item in claimed:
                self._handle(item)

    def _idle(self, urgent_only: bool) -> None:
        """Wait for a wake-up (or the poll interval), unless one came meanwhile."""
        if urgent_only:
            if not self._draining.is_set():
                self._urgent.wait(self.poll_seconds)
            self._urgent.clear()  # a request stored after this is found by the next claim
            return
        with self._wake:
            if not self._signals and not self._draining.is_set():
                self._wake.wait(self.poll_seconds)
            self._signals = max(0, self._signals - 1)

    def _handle(self, item: InboxItem) -> None:
        if item.attempts > MAX_ATTEMPTS:  # its process died while running it, each time
            self._give_up(item, "its worker stopped while running it", item.attempts - 1)
            return
        with self._lock:
            self._running[item.id] = item
        try:
            self.runner.run(item)
        except LeaseLost:  # its effect rolled back, or it stopped before answering
            log.warning("inbox: row %s was taken over by another worker", item.id)
        except StorageError as exc:
            # The database was busy or away, not the request at fault: try again later
            # without counting it towards parking (the lease covers a database still away).
            log.warning("inbox: row %s met a storage error, retrying: %s", item.id, exc)
            later, why = self.clock() + STORAGE_RETRY, str(exc)
            self._quietly(lambda: self.store.retry_later(item, later, why, counted=False))
        except Exception as exc:
            log.exception(
                "inbox: row %s (%s) failed, attempt %d", item.id, item.kind, item.attempts
            )
            why = f"{type(exc).__name__}: {exc}"
            if item.attempts >= MAX_ATTEMPTS:
                self._give_up(item, why, item.attempts)
            else:
                later = self.clock() + timedelta(seconds=item.attempts)
                self._quietly(lambda: self.store.retry_later(item, later, why))
        finally:
            with self._lock:
                if self._running.get(item.id) is item:  # not a takeover by another thread
                    del self._running[item.id]

    def _give_up(self, item: InboxItem, why: str, tried: int) -> None:
        log.error(
            "inbox: parking row %s (%s) after %d attempts: %s", item.id, item.kind, tried, why
        )
        self._quietly(lambda: self.runner.give_up(item, why, tried))

    def _quietly(self, settle: Callable[[], None]) -> None:
        # If even this fails, the lease runs out and the row is claimed again.
        try:
            settle()
        except Exception:
            log.exception("inbox: could not settle a failed row")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._lock:
                running = dict(self._running)
            try:
                lost = self.store.renew(sorted(running), self.clock())
            except Exception:  # the next beat tries again, well within the lease
                log.exception("inbox: renewing leases failed")
                continue
            for row_id in lost:  # taken over (or settled just now: then marking is moot)
                running[row_id].lost.set()
                with self._lock:
                    still = self._running.get(row_id) is running[row_id]
                if still:
                    log.warning("inbox: lost the lease of row %s to another worker", row_id)

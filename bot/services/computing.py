"""CPU-heavy steps of an evaluation in a child process at a lower priority.

Reading a million-row file, its statistics, its chart and packing its rows take seconds
of CPU. Run on a thread of the process that acknowledges Slack (the embedded default, or
the pipeline API), they hold the GIL that every ack needs; run in a worker process that was
niced as a whole, they make that worker slow *while it holds SQLite's one write lock*, and
every ack waits for the lock (measured in benchmarks/README.md: open-loop p99 434 ms with
niced workers, 102 ms without). So the worker threads stay at normal priority and only the
numbers are crunched elsewhere: :func:`offload` sends a pure function and its arguments to
one child process (spawned, never forked from a threaded process; niced; it takes no
database connection and no lock) and waits for the result, which releases the GIL.

Off by default (the shell, the CLI and the tests compute inline); `mlgov serve` and `mlgov
worker` call :func:`start`. A child that dies (out of memory, say) fails that one
computation, which the inbox retries, and the next one starts a fresh child.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from bot.domain.errors import StorageError

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
NICE = 10  # the child's niceness: acks, claims and commits go first
ORPHAN_CHECK_S = 1.0


class ComputeFailed(StorageError):
    """The computing process died; nothing was recorded and the request is retried."""


class _Children:
    """One spawned child process, started on first use and replaced when it dies."""

    def __init__(self, nice: int) -> None:
        self.nice = nice
        self.lock = threading.Lock()
        self.executor: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        with self.lock:
            if self.executor is None:
                self.executor = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_started,
                    initargs=(os.getpid(), self.nice),
                )
            return self.executor

    def forget(self, broken: ProcessPoolExecutor) -> None:
        with self.lock:
            if self.executor is broken:
                self.executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self.lock:
            executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_children: _Children | None = None


def start(nice: int = NICE) -> None:
    """Compute in a child process from now on (idempotent)."""
    global _children
    if _children is None:
        _children = _Children(nice)


def stop() -> None:
    """Wait for the computation under way, then end the child (back to computing inline)."""
    global _children
    children, _children = _children, None
    if children is not None:
        children.close()


def offload(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, in the child when started, else here.

    ``fn`` must be a module-level function whose arguments and result pickle; what it
    raises is raised here (so every MlgovError pickles, see bot/domain/errors.py).
    """
    children = _children
    if children is None:
        return fn(*args, **kwargs)
    executor = children.get()
    try:
        return executor.submit(fn, *args, **kwargs).result()
    except BrokenProcessPool as exc:
        children.forget(executor)
        log.error("the computing process died during %s", getattr(fn, "__name__", fn))
        raise ComputeFailed("The computing process stopped unexpectedly; retrying.") from exc


def _child_started(parent: int, nice: int) -> None:
    """In the child: lower priority, leave signals to the parent, end when it is gone."""
    if nice:
        os.nice(nice)
    # Ctrl-C and a service manager's SIGTERM reach the whole group: the parent decides
    # when the child ends (after its drain), by closing the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:  # a parent killed with -9 cannot close the pool
        while os.getppid() == parent:
            threading.Event().wait(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

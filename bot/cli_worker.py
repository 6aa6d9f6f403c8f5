"""`mlgov worker`, and the supervisor of `mlgov serve --workers N`.

A worker runs what the web process only stores: the inbox (stored Slack requests), the
outbox (Slack messages to deliver) and the scheduled jobs. Any number of workers may share
one database: the inbox and the outbox are claimed under leases, and the run ledger makes
each job run once (bot.jobs).

The supervisor starts N workers as child processes, forwards SIGTERM to them, and
restarts one that dies unexpectedly; more than RESTARTS deaths within a minute is a crash
loop, and the supervisor then stops everything and exits 1 for the process manager to see.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from bot.domain.errors import ConfigError
from bot.services import computing
from bot.services.inbox_worker import AcksElsewhere, new_board

log = logging.getLogger("mlgov.worker")
RESTARTS = 5  # deaths tolerated within CRASH_WINDOW
CRASH_WINDOW = 60.0
STOP_SECONDS = 30.0  # a child's drain (25 s) and its last deliveries


def worker(settings: Any, args: argparse.Namespace) -> int:
    """Run one worker until SIGTERM (or until the supervisor that started it is gone)."""
    from bot.runtime import Runtime
    from bot.slack.app import web_client
    from bot.slack.web_api import WebApi

    stop = _stop_on_signals()  # first: a SIGTERM while starting is a clean stop too
    if args.nice:  # Slack's 3 s for an ack are spent elsewhere: let that process go first
        os.nice(args.nice)
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set (a bot token, xoxb-…).")
    parent = args.parent
    # Started by a supervisor, which migrated the database already: do not race it.
    runtime = Runtime.create(settings, upgrade=parent is None, threads=args.threads)
    computing.start()  # the numbers niced in a child; this process's commits stay prompt
    try:
        client = web_client(settings.slack_bot_token, settings.slack_api_url)
        board = getattr(args, "acks_board", None)
        acks = AcksElsewhere(Path(board)) if board else None  # those of `serve --workers`
        runtime.start_inbox(client, threads=args.threads, acks=acks)
        runtime.start_outbox(WebApi(client))
        runtime.start_registry()
        runtime.start_scheduler()
        while not stop.wait(0.5):
            if parent is not None and os.getppid() != parent:
                log.warning("the supervisor (pid %d) is gone: stopping", parent)
                break
    finally:
        runtime.close(on_signal=True)
        computing.stop()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


class Supervisor:
    """N `mlgov worker` child processes beside the web process."""

    def __init__(self, count: int, threads: int, nice: int = 0) -> None:
        self.count = count
        self.threads = threads
        self.nice = nice
        self.board = new_board()  # where this process posts its acks in progress
        self.failed = False
        self._children: list[subprocess.Popen[bytes]] = []
        self._deaths: deque[float] = deque()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no restart once stop() began
        self._watcher = threading.Thread(target=self._watch, name="mlgov-supervisor", daemon=True)

    def start(self) -> Supervisor:
        self._children = [self._spawn() for _ in range(self.count)]
        self._watcher.start()
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "bot", "worker", "--threads", str(self.threads)]
        command += ["--nice", str(self.nice), "--acks-board", str(self.board)]
        child = subprocess.Popen([*command, "--parent", str(os.getpid())])
        log.info("started worker pid %d", child.pid)
        return child

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for n, child in enumerate(self._children):
                code = child.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.error("worker pid %d exited with %d", child.pid, code)
                now = time.monotonic()
                self._deaths.append(now)
                while self._deaths and now - self._deaths[0] > CRASH_WINDOW:
                    self._deaths.popleft()
                if len(self._deaths) > RESTARTS:
                    log.error("workers keep dying: stopping")
                    self.failed = True
                    os.kill(os.getpid(), signal.SIGTERM)  # the web process stops as on SIGTERM
                    return
                if self._stopping.wait(1.0):
                    return
                with self._lock:
                    if not self._stopping.is_set():
                        self._children[n] = self._spawn()

    def stop(self) -> bool:
        """SIGTERM to every child, wait for them; True when all stopped cleanly."""
        with self._lock:
            self._stopping.set()
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        clean = True
        for child in self._children:
            try:
                code = child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time: killing it", child.pid)
                child.kill()
                code = child.wait()
            # Killed by our SIGTERM before it could handle it (while starting): clean too.
            clean = clean and code in (0, -signal.SIGTERM)
        self.board.unlink(missing_ok=True)
        return clean and not self.failed

"""What the ack-latency benchmark measures: a bare Bolt app and `mlgov serve`, each a process.

Every target is a process of its own on 127.0.0.1, served by ``bot.server.HttpServer``
(waitress) with the same thread count, as in production. mlgov is the real `mlgov serve`
(``python -m bot serve``), embedded (worker threads in the acking process) or with
``--workers N`` (the acking process only stores and acks; N worker processes do the work).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks._busy import Evaluations
from benchmarks._load import SIGNING_SECRET, TEAM, signed_headers

ROOT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-bench"
ADMIN = "UADMIN"
START_TIMEOUT_S = 120.0


def bare_process(conn: Connection, fake_api_url: str, threads: int) -> None:
    """Serve a Bolt app whose /exp listener only acks, built like mlgov's, until told to stop.

    Like mlgov's listeners it answers on the request thread (``process_before_response``),
    with the same client to the fake Slack and the same WSGI mount and server.
    """
    from prometheus_client import CollectorRegistry
    from slack_bolt import Ack, App

    from bot.server import HttpServer
    from bot.slack.app import web_client
    from bot.slack.http import mount
    from bot.web import create_web_app

    bolt = App(
        client=web_client(BOT_TOKEN, fake_api_url),
        signing_secret=SIGNING_SECRET,
        logger=logging.getLogger("bench.bolt"),
        process_before_response=True,
    )

    @bolt.command("/exp")
    def only_ack(ack: Ack) -> None:
        ack()

    web = create_web_app(lambda: None, CollectorRegistry())
    mount(web, bolt, SIGNING_SECRET)
    server = HttpServer(web, threads=threads).start()
    conn.send(server.port)
    conn.recv()
    server.stop()


def evaluations_process(conn: Connection) -> None:
    """1M-row evaluations over and over in this process (the bare app's load), until told."""
    with Evaluations() as load:
        conn.send("started")
        conn.recv()
    conn.send(load.summary())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def mlgov_serve(
    fake_url: str,
    database_url: str,
    threads: int,
    workers: int,
    folder: Path,
    worker_nice: int | None = None,
) -> Iterator[tuple[int, int]]:
    """`mlgov serve` (with ``--workers`` when ``workers``) on a free port, stopped by SIGTERM:
    (port, pid)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MLGOV_"))}
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_url + "/api/",
        MLGOV_ADMINS=ADMIN,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        NO_PROXY="127.0.0.1,localhost",
    )
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)]
    if workers:
        args += ["--workers", str(workers)]
        if worker_nice is not None:
            args += ["--worker-nice", str(worker_nice)]
    log = folder / f"serve-workers-{workers}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlgov serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield port, process.pid
    except BaseException:
        print(f"--- the end of {log.name}:\n{log.read_text()[-4000:]}", file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def post_event(port: int, event: dict[str, Any], event_id: str) -> int:
    """Send one signed Events API callback; the HTTP status."""
    body = json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/slack/events", body, signed_headers(body, "application/json"))
        response = conn.getresponse()
        response.read()
        return int(response.status)
    finally:
        conn.close()


class EvaluationUploads:
    """``@mlgov eval EXP-1`` with a 1M-row file, one after another, each run by a worker.

    The next upload is sent when the last one's evaluation is recorded, so one evaluation
    is always being downloaded, parsed, summarised, charted and stored: in the acking
    process when mlgov is embedded, in a worker process with ``--workers``. Entering sends
    one first and returns once it is recorded (imports and caches are warm by then).
    """

    def __init__(self, port: int, file_url: str, database_url: str, user: str) -> None:
        from storage.db import create_db_engine

        self.port = port
        self.file_url = file_url
        self.user = user
        self.engine = create_db_engine(database_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-uploads", daemon=True)
        self._sent = 0
        self.seconds: list[float] = []  # of each evaluation recorded while measuring
        self._measuring = False
        self.error: str | None = None
        # Seconds of the measured window in which an upload was waiting or being evaluated.
        self.pending_s = 0.0
        self._started_at = 0.0
        self._stopped_at: float | None = None
        self._pending_since: float | None = None
        self._lock = threading.Lock()

    def recorded(self) -> int:
        import sqlalchemy as sa

        with self.engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM evaluations")).scalar_one())

    def uploads_in_inbox(self) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        query = "SELECT status, attempts, last_error FROM inbox WHERE kind = 'event'"
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(query))]

    def _upload(self) -> float:
        self._sent += 1
        event_id = f"Ebench{self._sent}-{int(time.time() * 1000)}"
        event = {
            "type": "app_mention",
            "user": self.user,
            "text": "<@UBOT> eval EXP-1",
            "ts": f"{time.time():.6f}",
            "channel": "CCHURN",
            "files": [
                {
                    "id": f"F{event_id}",
                    "name": "predictions.csv",
                    "size": 1,
                    "url_private": self.file_url,
                }
            ],
        }
        status = post_event(self.port, event, event_id)
        if status != 200:
            raise RuntimeError(f"the upload got HTTP {status}")
        return time.perf_counter()

    def _wait_recorded(self, before: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.recorded() <= before:
            if self._stop.is_set() or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def __enter__(self) -> EvaluationUploads:
        before = self.recorded()
        self._upload()
        if not self._wait_recorded(before, 300):
            raise RuntimeError(
                "the first 1M-row evaluation was not recorded within 300 s; its inbox rows"
                f" (status, attempts, last error): {self.uploads_in_inbox()}"
            )
        self._measuring = True
        self._started_at = time.perf_counter()
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                before = self.recorded()
                sent = self._upload()
                self._pending_since = sent
                if self._wait_recorded(before, 300) and self._measuring:
                    self.seconds.append(time.perf_counter() - sent)
                self._settle(time.perf_counter())
        except Exception as exc:  # reported in the table instead of an idle worker
            self.error = repr(exc)

    def _settle(self, end: float) -> None:
        """Add the pending upload's time inside the measured window to ``pending_s``, once."""
        with self._lock:
            if self._pending_since is None:
                return
            stop = self._stopped_at or end
            self.pending_s += max(0.0, min(end, stop) - max(self._pending_since, self._started_at))
            self._pending_since = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._measuring = False
        self._stopped_at = time.perf_counter()
        self._settle(self._stopped_at)
        self._stop.set()
        self._thread.join(30)
        self.engine.dispose()

    def summary(self) -> str:
        if self.error is not None:
            return f"the uploads FAILED: {self.error}"
        window = (self._stopped_at or time.perf_counter()) - self._started_at
        done = ", ".join(f"{s:.1f}" for s in self.seconds) or "none"
        return (
            f"a 1,000,000-row evaluation was queued or running in a worker for"
            f" {self.pending_s:.1f} of the {window:.1f} s measured; recorded meanwhile:"
            f" {len(self.seconds)} (seconds from upload to stored summary: {done})"
        )

"""Ack latency of slash commands at 50 concurrent clients, mlgov against a bare Bolt app.

SPEC §10: p99 within 1.5x of a Bolt app that only acks, on the same server stack. Run from
the repository root::

    .venv/bin/python -m benchmarks.ack_latency [--requests 2000] [--database-url URL]

Three targets, one after another, each on its own ``bot.server.HttpServer`` (waitress, same
thread count) on 127.0.0.1: (a) a bare Bolt app whose ``/exp`` listener only acks, mounted
like mlgov's; (b) mlgov answering ``/exp list``; (c) mlgov answering ``/exp new``. Requests
are signed like Slack's; their response_url points at the fake Slack Web API, which runs
in a process of its own, as real Slack would be elsewhere. The load generator runs in its
own process too (``--generator thread`` keeps it in the server's process, to compare).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import logging
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
TEAM = "T1"
ADMIN = "UADMIN"
SCIENTIST = "UALICE"
SPEC_RATIO = 1.5
SEED_EXPERIMENTS = 20  # so that /exp list renders a real listing, not "no experiments"
REQUEST_TIMEOUT_S = 10.0


# --- the load generator (runs in its own process unless --generator thread) -------------------


@dataclass(frozen=True)
class Phase:
    """One batch of signed slash commands, one text per request, sent by ``clients`` threads."""

    port: int
    fake_url: str  # the fake Slack's root; each request's response_url is under it
    key_prefix: str  # response_url keys are f"{key_prefix}-{i}"
    user: str
    command: str
    texts: tuple[str, ...]
    clients: int
    deadline_s: float


@dataclass
class PhaseResult:
    latencies_ms: list[float]
    errors: Counter[str]
    wall_s: float
    unsent: int


def _signed_requests(phase: Phase) -> list[tuple[bytes, dict[str, str]]]:
    """Bodies and headers exactly as Slack sends a slash command, signed now."""
    from slack_sdk.signature import SignatureVerifier

    signer = SignatureVerifier(SIGNING_SECRET)
    timestamp = str(int(time.time()))
    built = []
    for i, text in enumerate(phase.texts):
        key = f"{phase.key_prefix}-{i}"
        body = urllib.parse.urlencode({
            "token": "unused", "team_id": TEAM, "team_domain": "bench", "channel_id": "CGENERAL",
            "channel_name": "general", "user_id": phase.user, "user_name": phase.user.lower(),
            "command": phase.command, "text": text, "api_app_id": "A1",
            "response_url": f"{phase.fake_url}/response/{key}", "trigger_id": f"trigger-{key}",
        })  # fmt: skip
        signature = signer.generate_signature(timestamp=timestamp, body=body) or ""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        built.append((body.encode(), headers))
    return built


def run_phase(phase: Phase) -> PhaseResult:
    """Send every request once; each client thread keeps one keep-alive connection."""
    requests = _signed_requests(phase)
    next_index = itertools.count().__next__  # atomic under the GIL: no lock needed
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    merge = threading.Lock()
    started = time.monotonic()
    stop_at = started + phase.deadline_s

    def client() -> None:
        mine: list[float] = []
        failed: Counter[str] = Counter()
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < stop_at:
            i = next_index()
            if i >= len(requests):
                break
            body, headers = requests[i]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", phase.port, REQUEST_TIMEOUT_S)
            sent = time.perf_counter()
            try:
                conn.request("POST", "/slack/events", body, headers)
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - sent) * 1000.0
            except (OSError, http.client.HTTPException) as exc:
                failed[type(exc).__name__] += 1
                conn.close()
                conn = None
                continue
            if response.status == 200:
                mine.append(elapsed)
            else:
                failed[f"HTTP {response.status}"] += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with merge:
            latencies.extend(mine)
            errors.update(failed)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(phase.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, stop_at - time.monotonic()) + REQUEST_TIMEOUT_S + 1)
    wall = time.monotonic() - started
    with merge:
        done = len(latencies) + sum(errors.values())
        return PhaseResult(list(latencies), Counter(errors), wall, len(requests) - done)


def _generator_process(conn: Connection) -> None:
    """Run phases sent over ``conn`` until told to stop (None)."""
    while (phase := conn.recv()) is not None:
        conn.send(run_phase(phase))


def _fake_slack_process(conn: Connection, delay_s: float = 0.0) -> None:
    """Serve the fake Slack Web API; count the calls asked about over ``conn``.

    A query (method, key prefix, scope, needle) answers (calls, of those with the needle in
    their text), counting only calls whose response_url key has the prefix and whose text
    has the scope.
    """
    from tests.fakes.slack_api import FakeSlack

    with FakeSlack() as fake:
        if delay_s:
            for method in ("response_url", "chat.postMessage"):
                fake.delay_next(method, delay_s, times=100_000)
        conn.send(fake.base_url)
        while (query := conn.recv()) is not None:
            method, prefix, scope, needle = query
            texts = [
                str(c.params.get("text", ""))
                for c in fake.calls(method)
                if c.params.get("_key", "").startswith(prefix)
            ]
            texts = [t for t in texts if scope in t]
            conn.send((len(texts), sum(1 for t in texts if needle in t)))


class Child:
    """A helper process we started, spoken to over a pipe, always ended by us."""

    def __init__(self, target: Callable[..., None], name: str, *args: Any) -> None:
        # spawn, not fork: the parent has threads, and forking those is unsafe.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self.process = context.Process(target=target, args=(theirs, *args), name=name, daemon=True)
        self.process.start()
        self.conn = ours

    def ask(self, message: Any, timeout: float) -> Any:
        self.conn.send(message)
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.process.name} did not answer within {timeout:.0f}s")
        return self.conn.recv()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# --- the targets --------------------------------------------------------------------------


def bare_web_app(fake_api_url: str) -> Any:
    """A Bolt app that only acks /exp, configured and mounted exactly like mlgov's."""
    from prometheus_client import CollectorRegistry
    from slack_bolt import Ack, App

    from bot.slack.app import web_client
    from bot.slack.http import mount
    from bot.web import create_web_app

    bolt = App(
        client=web_client(BOT_TOKEN, fake_api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=False,
        logger=logging.getLogger("bench.bolt"),
    )

    @bolt.command("/exp")
    def only_ack(ack: Ack) -> None:
        ack()

    web = create_web_app(lambda: None, CollectorRegistry())
    mount(web, bolt)
    return web


@contextmanager
def serving(web_app: Any, threads: int) -> Iterator[int]:
    from bot.server import HttpServer

    server = HttpServer(web_app, threads=threads).start()
    try:
        yield server.port
    finally:
        server.stop()


@contextmanager
def mlgov_app(fake_api_url: str, database_url: str, threads: int) -> Iterator[int]:
    """mlgov's Slack app and outbox worker, wired as `mlgov serve` does, on a free port.

    The scheduled jobs are left out: they are not in the request path.
    """
    from bot.config import Settings
    from bot.runtime import Runtime
    from bot.slack.app import build_bolt_app, web_client
    from bot.slack.web_api import WebApi

    settings = Settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_api_url, database_url=database_url, admins=frozenset({ADMIN}),
    )  # fmt: skip
    runtime = Runtime.create(settings)
    try:
        client = web_client(BOT_TOKEN, fake_api_url)
        runtime.start_outbox(WebApi(client))
        with serving(
            runtime.web_app(build_bolt_app(client, SIGNING_SECRET, runtime.dispatcher)), threads
        ) as port:
            yield port
    finally:
        runtime.close()


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    """(URL, description): a SQLite file in a temporary folder, or a fresh PostgreSQL schema."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="mlgov-bench-") as folder:
            yield f"sqlite:///{os.path.join(folder, 'mlgov.db')}", "SQLite (temporary file, WAL)"
        return
    import sqlalchemy as sa

    from storage.db import create_db_engine

    # A schema of our own, dropped afterwards: the benchmark writes thousands of rows.
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(url, connect_args={"connect_timeout": 5})
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}", f"PostgreSQL (schema {schema})"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- running and reporting ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """Post-ack calls that reached the fake Slack: as expected, arrived, and expected."""

    good: int
    arrived: int
    expected: int

    @property
    def complete(self) -> bool:
        return self.good == self.arrived == self.expected

    def __str__(self) -> str:
        wrong = f" ({self.arrived - self.good} wrong)" if self.arrived != self.good else ""
        return f"{self.good}/{self.expected}{wrong}"


@dataclass
class Row:
    target: str
    result: PhaseResult
    replies: Delivered | None = None  # ephemeral replies at response_url
    posts: Delivered | None = None  # thread roots the outbox posted to the project channel

    @property
    def broken(self) -> bool:
        delivered = [d for d in (self.replies, self.posts) if d is not None]
        return bool(
            self.result.errors or self.result.unsent or not all(d.complete for d in delivered)
        )

    def delivered_text(self) -> str:
        if self.replies is None:
            return "none expected"
        return f"{self.replies}" + (f"; posts {self.posts}" if self.posts else "")


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_ms:
        return math.nan
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


@dataclass(frozen=True)
class Target:
    """What one row of the table sends, and what its post-ack work must deliver."""

    name: str
    prefix: str
    text: Callable[[int], str]
    reply_needle: str | None = None  # in every response_url reply; None: no reply expected
    post_scope: str | None = None  # marks the channel posts the outbox makes, one per request
    post_needle: str = ""  # in every such post


class Bench:
    def __init__(self, args: argparse.Namespace, fake: Child, generator: Child | None) -> None:
        self.args = args
        self.fake = fake
        self.generator = generator
        self.fake_url: str = ""
        self.rows: list[Row] = []

    def send(
        self,
        port: int,
        prefix: str,
        user: str,
        command: str,
        texts: list[str],
        clients: int | None = None,
    ) -> PhaseResult:
        phase = Phase(
            port,
            self.fake_url,
            prefix,
            user,
            command,
            tuple(texts),
            clients or self.args.clients,
            self.args.phase_timeout,
        )
        if self.generator is None or clients == 1:
            return run_phase(phase)
        result: PhaseResult = self.generator.ask(phase, phase.deadline_s + REQUEST_TIMEOUT_S + 30)
        return result

    def delivered(
        self, method: str, prefix: str, needle: str, expected: int, scope: str = ""
    ) -> Delivered:
        """Wait (bounded by --drain-timeout) until ``expected`` calls reached the fake Slack."""
        deadline = time.monotonic() + self.args.drain_timeout
        while True:
            arrived, good = self.fake.ask((method, prefix, scope, needle), 30)
            if arrived >= expected or time.monotonic() > deadline:
                return Delivered(good, arrived, expected)
            time.sleep(0.1)

    def measure(self, port: int, target: Target) -> None:
        """Warm up and let its work finish; then measure, and wait for that work too."""
        warmup, requests = self.args.warmup, self.args.requests
        warm = self.send(
            port, f"{target.prefix}w", SCIENTIST, "/exp", [target.text(i) for i in range(warmup)]
        )
        if target.reply_needle is not None:
            self.delivered(
                "response_url", f"{target.prefix}w-", target.reply_needle, len(warm.latencies_ms)
            )
        measured = self.send(
            port,
            f"{target.prefix}m",
            SCIENTIST,
            "/exp",
            [target.text(warmup + i) for i in range(requests)],
        )
        row = Row(target.name, measured)
        if target.reply_needle is not None:
            row.replies = self.delivered(
                "response_url",
                f"{target.prefix}m-",
                target.reply_needle,
                len(measured.latencies_ms),
            )
        if target.post_scope is not None:
            row.posts = self.delivered(
                "chat.postMessage",
                "",
                target.post_needle,
                len(warm.latencies_ms) + len(measured.latencies_ms),
                scope=target.post_scope,
            )
        self.rows.append(row)

    def seed(self, port: int) -> None:
        """An admin adds project churn and a scientist, who proposes a few experiments."""
        steps = [
            (ADMIN, "/mlgov", ["project add churn <#CCHURN|churn>"], "Project *churn* created"),
            (ADMIN, "/mlgov", ["member add <@UALICE|alice> scientist churn"], "now scientist"),
            (SCIENTIST, "/exp",
             [f"new churn Seed {i} --metric auc --min-delta 0.01" for i in range(SEED_EXPERIMENTS)],
             "Created *EXP-"),
        ]  # fmt: skip
        for n, (user, command, texts, needle) in enumerate(steps):
            result = self.send(port, f"seed{n}", user, command, texts, clients=1)
            if (
                result.errors
                or not self.delivered("response_url", f"seed{n}-", needle, len(texts)).complete
            ):
                raise RuntimeError(f"seeding failed at {command} {texts[0]!r}: {result.errors}")

    def run(self, database_url: str) -> None:
        api_url, threads = self.fake_url + "/api/", self.args.threads
        with serving(bare_web_app(api_url), threads) as port:
            self.measure(port, Target("(a) bare Bolt, ack only", "bare", lambda i: "list"))
        with mlgov_app(api_url, database_url, threads) as port:
            self.seed(port)
            # list before new: /exp list then shows the seeded experiments, not thousands.
            self.measure(
                port,
                Target(
                    "(b) mlgov /exp list",
                    "list",
                    lambda i: "list",
                    reply_needle="Seed 0 (proposed)",
                ),
            )
            self.measure(
                port,
                Target(
                    "(c) mlgov /exp new",
                    "new",
                    lambda i: f"new churn Bench {i} --metric auc --min-delta 0.01",
                    reply_needle="Created *EXP-",
                    post_scope=" Bench ",
                    post_needle="proposed (owner <@UALICE>)",
                ),
            )


def machine() -> str:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "",
            )
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"machine: {cores} cores ({usable} usable) {model}; Python {platform.python_version()}"
        f" on {platform.system()} {platform.release()}; load average {load}"
    )


def report(rows: list[Row], args: argparse.Namespace, db: str) -> str:
    generator = (
        "its own process" if args.generator == "process" else "threads in the server's process"
    )
    lines = [
        f"ack latency: {args.clients} concurrent clients, keep-alive connections, "
        f"{args.requests} requests per target after {args.warmup} warm-up; "
        f"waitress {args.threads} threads; load generator in {generator}; "
        f"fake Slack in its own process, answering after {args.slack_delay_ms:g} ms; "
        f"mlgov database: {db}",
        "",
        f"{'target':<26} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'errors':>6} {'req/s':>7}  replies",
    ]
    for row in rows:
        ms = sorted(row.result.latencies_ms)
        errors = sum(row.result.errors.values()) + row.result.unsent
        rate = len(ms) / row.result.wall_s if row.result.wall_s else math.nan
        lines.append(
            f"{row.target:<26} {len(ms) + errors:>8} {percentile(ms, 50):>8.1f} "
            f"{percentile(ms, 99):>8.1f} {max(ms, default=math.nan):>8.1f} {errors:>6} "
            f"{rate:>7.0f}  {row.delivered_text()}"
        )
        for reason, count in sorted(row.result.errors.items()):
            lines.append(f"{'':<26}   {count} x {reason}")
        if row.result.unsent:
            lines.append(f"{'':<26}   {row.result.unsent} not sent before --phase-timeout")
    lines.append("")
    bare = sorted(rows[0].result.latencies_ms)
    for row in rows[1:]:
        ms = sorted(row.result.latencies_ms)
        if not (bare and ms):
            lines.append(f"p99 {row.target} / p99 bare: n/a (no successful requests)")
            continue
        ratio = percentile(ms, 99) / percentile(bare, 99)
        verdict = "within" if ratio <= SPEC_RATIO else "OVER"
        lines.append(
            f"p99 {row.target} / p99 bare = {ratio:.2f}x ({verdict} the SPEC target of"
            f" {SPEC_RATIO}x); p50 ratio {percentile(ms, 50) / percentile(bare, 50):.2f}x"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ack_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured per target (2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured, per target (200)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument(
        "--threads", type=int, default=16, help="waitress threads, as `mlgov serve` (16)"
    )
    parser.add_argument(
        "--generator",
        choices=("process", "thread"),
        default="process",
        help="where the load generator runs (process)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL URL for mlgov; the run uses a fresh schema and drops"
        " it afterwards (default: SQLite in a temporary folder)",
    )
    parser.add_argument(
        "--slack-delay-ms",
        type=float,
        default=0.0,
        help="the fake Slack answers response_url and chat.postMessage this much"
        " later, as Slack over the internet would (0)",
    )
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=60.0,
        help="seconds one batch of requests may take (60)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for post-ack replies after a batch (60)",
    )
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("warmup", "slack_delay_ms"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    if args.database_url is not None and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be postgresql://... (SQLite is the default)")
    for name in ("phase_timeout", "drain_timeout"):
        if not 0 < getattr(args, name) <= 600:
            parser.error(f"--{name.replace('_', '-')} must be more than 0 and at most 600")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the three targets and print the table; 1 when a request or a reply went wrong."""
    args = parse_args(argv)
    started = time.monotonic()
    # At 50 clients and 16 threads waitress warns of every queued request; the table says it.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print(machine(), flush=True)
    with ExitStack() as stack:
        fake = Child(_fake_slack_process, "fake-slack", args.slack_delay_ms / 1000)
        stack.callback(fake.close)
        generator = None
        if args.generator == "process":
            generator = Child(_generator_process, "load-generator")
            stack.callback(generator.close)
        bench = Bench(args, fake, generator)
        if not fake.conn.poll(30):
            raise TimeoutError("the fake Slack did not start within 30s")
        bench.fake_url = fake.conn.recv()
        database_url, db = stack.enter_context(database(args.database_url))
        bench.run(database_url)
    print(report(bench.rows, args, db))
    print(f"after {time.monotonic() - started:.0f} s, " + machine().replace("machine: ", ""))
    return 1 if any(row.broken for row in bench.rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Ack latency of slash commands at 50 concurrent clients, mlgov against a bare Bolt app.

SPEC §10: p99 within 1.5x of a Bolt app that only acks, on the same server stack, and never
near 3 s even while a 1M-row evaluation is being computed. Run from the repository root::

    .venv/bin/python -m benchmarks.ack_latency

Three targets, one after another, each on its own ``bot.server.HttpServer`` (waitress, same
thread count) on 127.0.0.1: (a) a bare Bolt app whose ``/exp`` listener only acks, built
like mlgov's; (b) mlgov answering ``/exp list``; (c) mlgov answering ``/exp new``. Each is
measured three ways: a closed loop (as fast as it answers), an open loop at ``--rate``
requests per second, and that open loop again while the server's process computes 1M-row
evaluations on a background thread. Requests are signed like Slack's; their response_url
points at the fake Slack Web API, which runs in a process of its own, as does the load
generator (see ``benchmarks/_load.py``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from benchmarks._busy import Evaluations
from benchmarks._gc import FullCollections
from benchmarks._load import (
    REQUEST_TIMEOUT_S,
    SIGNING_SECRET,
    Child,
    Phase,
    PhaseResult,
    fake_slack_process,
    generator_process,
    percentile,
    run_phase,
)

BOT_TOKEN = "xoxb-bench"
ADMIN = "UADMIN"
SCIENTIST = "UALICE"
SPEC_RATIO = 1.5
SLACK_ACK_LIMIT_MS = 3000.0
SEED_EXPERIMENTS = 20  # so that /exp list renders a real listing, not "no experiments"

# How a row's requests were sent; the first letters tell the phases' requests apart.
WARMUP, CLOSED, OPEN, BUSY = "warm-up", "closed loop", "open loop", "busy open loop"


# --- the targets --------------------------------------------------------------------------


def bare_web_app(fake_api_url: str, like_mlgov: bool) -> Any:
    """A Bolt app that only acks /exp, mounted like mlgov's (and configured so, by default)."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client import CollectorRegistry
    from slack_bolt import Ack, App

    from bot.slack.app import WORKERS, web_client
    from bot.slack.http import mount
    from bot.web import create_web_app

    options: dict[str, Any] = {}
    if like_mlgov:  # ack on the request thread, as mlgov's listeners do
        options = {
            "process_before_response": True,
            "listener_executor": ThreadPoolExecutor(WORKERS, thread_name_prefix="bare-work"),
        }
    bolt = App(
        client=web_client(BOT_TOKEN, fake_api_url),
        signing_secret=SIGNING_SECRET,
        logger=logging.getLogger("bench.bolt"),
        **options,
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
    """mlgov's Slack app, outbox worker and scheduler, wired as `mlgov serve` does."""
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
        bolt = build_bolt_app(client, SIGNING_SECRET, runtime.dispatcher)
        runtime.start_outbox(WebApi(client))
        runtime.start_scheduler()
        with serving(runtime.web_app(bolt), threads) as port:
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


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """Post-ack calls that reached the fake Slack: as expected, arrived, and expected."""

    good: int
    arrived: int
    expected: int
    wrong: str = ""  # the first text that lacked what every one should say

    @property
    def complete(self) -> bool:
        return self.good == self.arrived == self.expected

    def __str__(self) -> str:
        wrong = f" ({self.arrived - self.good} wrong)" if self.arrived != self.good else ""
        return f"{self.good}/{self.expected}{wrong}"


@dataclass
class Row:
    target: str
    mode: str
    result: PhaseResult
    collections: FullCollections  # in the server's process while the requests were sent
    replies: Delivered | None = None  # ephemeral replies at response_url
    posts: Delivered | None = None  # thread roots the outbox posted to the project channel
    load: Evaluations | None = None  # the CPU load in the server's process (BUSY rows)

    @property
    def broken(self) -> bool:
        delivered = [d for d in (self.replies, self.posts) if d is not None]
        return bool(
            self.result.errors
            or self.result.unsent
            or not all(d.complete for d in delivered)
            or (self.load is not None and self.load.error is not None)
        )

    def delivered_text(self) -> str:
        if self.replies is None:
            return "none expected"
        return f"{self.replies}" + (f"; posts {self.posts}" if self.posts else "")


@dataclass(frozen=True)
class Target:
    """What one row of a table sends, and what its post-ack work must deliver."""

    name: str
    prefix: str
    text: Callable[[str, int], str]  # (phase tag, index) -> command text
    reply_needle: str | None = None  # in every response_url reply; None: no reply expected
    post_scope: Callable[[str], str] | None = None  # marks a phase's posts, one per request
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
        rate: float = 0.0,
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
            rate,
            self.args.arrivals,
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
            arrived, good, wrong = self.fake.ask((method, prefix, scope, needle), 30)
            if arrived >= expected or time.monotonic() > deadline:
                return Delivered(good, arrived, expected, wrong)
            time.sleep(0.1)

    def phase(
        self,
        port: int,
        target: Target,
        mode: str,
        count: int,
        rate: float = 0.0,
        load: Evaluations | None = None,
    ) -> Row:
        """Send ``count`` requests (under ``load``), then wait for their post-ack work."""
        tag = mode[0]  # tells this phase's replies and posts from the others'
        prefix = f"{target.prefix}{tag}"
        texts = [target.text(tag, i) for i in range(count)]
        # The load stops before the drain, which is not measured.
        with load or nullcontext(), FullCollections() as collections:
            result = self.send(port, prefix, SCIENTIST, "/exp", texts, rate=rate)
        row = Row(target.name, mode, result, collections, load=load)
        acked = len(result.latencies_ms)
        drained = time.perf_counter()
        if target.reply_needle is not None:
            row.replies = self.delivered("response_url", f"{prefix}-", target.reply_needle, acked)
        if target.post_scope is not None:
            # A command that failed (its reply says why) posts nothing: do not wait for it.
            made = row.replies.good if row.replies is not None else acked
            scope = target.post_scope(tag)
            row.posts = self.delivered("chat.postMessage", "", target.post_needle, made, scope)
        drained = time.perf_counter() - drained
        print(
            f"  {target.name}, {mode}: {count} requests in {result.wall_s:.1f} s,"
            f" post-ack work done {drained:.1f} s later",
            file=sys.stderr,
            flush=True,
        )
        return row

    def measure(self, port: int, target: Target) -> None:
        """Warm up; then a closed loop, an open loop, and the open loop under CPU load."""
        args = self.args
        if args.warmup:  # imports, Bolt's first auth.test, pool connections: not measured
            self.phase(port, target, WARMUP, args.warmup)
        if args.requests:
            self.rows.append(self.phase(port, target, CLOSED, args.requests))
        if args.rate:
            self.rows.append(self.phase(port, target, OPEN, args.open_requests, args.rate))
        if args.rate and args.busy:
            row = self.phase(port, target, BUSY, args.open_requests, args.rate, Evaluations())
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

    def started(self) -> None:
        """With --gc-freeze: what a suggested `mlgov serve` change would do once it is up."""
        if self.args.gc_freeze:
            # Full collections then skip the start-up heap (modules, SQLAlchemy, Bolt).
            gc.collect()
            gc.freeze()

    def run(self, database_url: str) -> None:
        api_url, threads = self.fake_url + "/api/", self.args.threads
        like_mlgov = self.args.bare == "like-mlgov"
        with serving(bare_web_app(api_url, like_mlgov), threads) as port:
            self.started()
            self.measure(port, Target("(a) bare Bolt, ack only", "bare", lambda tag, i: "list"))
        with mlgov_app(api_url, database_url, threads) as port:
            self.started()
            self.seed(port)
            # list before new: /exp list then shows the seeded experiments, not thousands.
            self.measure(
                port,
                Target(
                    "(b) mlgov /exp list",
                    "list",
                    lambda tag, i: "list",
                    reply_needle="Seed 0 (proposed)",
                ),
            )
            self.measure(
                port,
                Target(
                    "(c) mlgov /exp new",
                    "new",
                    lambda tag, i: f"new churn Bench {tag} {i} --metric auc --min-delta 0.01",
                    reply_needle="Created *EXP-",
                    post_scope=lambda tag: f" Bench {tag} ",
                    post_needle="proposed (owner <@UALICE>)",
                ),
            )


# --- reporting ----------------------------------------------------------------------------


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


def _title(mode: str, args: argparse.Namespace) -> str:
    if mode == CLOSED:
        return (
            f"CLOSED LOOP: {args.clients} clients, each sends its next request as soon as the"
            f" last is answered; {args.requests} requests per target"
        )
    arrivals = "Poisson" if args.arrivals == "poisson" else "evenly spaced"
    title = (
        f"OPEN LOOP: {args.rate:g} requests/s offered ({arrivals} arrivals, the same schedule"
        f" for every target) over {args.clients} clients; {args.open_requests} requests per"
        " target; latency from each request's scheduled time"
    )
    if mode == BUSY:
        title += "; the server's process computes 1M-row evaluations on a background thread"
    return title


def table(rows: list[Row], mode: str, args: argparse.Namespace) -> list[str]:
    """One mode's table, then p99 and p50 of each mlgov row over the bare row's."""
    opened = mode != CLOSED
    late = f" {'late p99':>8}" if opened else ""
    lines = [
        _title(mode, args),
        f"{'target':<26} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'errors':>6} {'req/s':>7}{late} {'full GC':>14}  replies",
    ]
    for row in rows:
        ms = sorted(row.result.latencies_ms)
        errors = sum(row.result.errors.values()) + row.result.unsent
        rate = len(ms) / row.result.wall_s if row.result.wall_s else math.nan
        late = f" {percentile(sorted(row.result.late_ms), 99):>8.1f}" if opened else ""
        lines.append(
            f"{row.target:<26} {len(ms) + errors:>8} {percentile(ms, 50):>8.1f} "
            f"{percentile(ms, 99):>8.1f} {max(ms, default=math.nan):>8.1f} {errors:>6} "
            f"{rate:>7.0f}{late} {row.collections.summary():>14}  {row.delivered_text()}"
        )
        for reason, count in sorted(row.result.errors.items()):
            lines.append(f"{'':<26}   {count} x {reason}")
        if row.result.unsent:
            lines.append(f"{'':<26}   {row.result.unsent} not sent before --phase-timeout")
        for delivered in (row.replies, row.posts):
            if delivered is not None and delivered.wrong:
                lines.append(f"{'':<26}   for example: {delivered.wrong[:150]!r}")
        if row.load is not None:
            lines.append(f"{'':<26}   load: {row.load.summary()}")
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
    if mode == BUSY:
        slowest = max((max(r.result.latencies_ms, default=0.0) for r in rows[1:]), default=0.0)
        lines.append(
            f"slowest mlgov ack while evaluating: {slowest:.0f} ms ="
            f" {slowest / SLACK_ACK_LIMIT_MS:.1%} of Slack's 3 s limit"
        )
    return lines


def report(rows: list[Row], args: argparse.Namespace, db: str) -> str:
    generator = (
        "its own process" if args.generator == "process" else "threads in the server's process"
    )
    bare = "built like mlgov's" if args.bare == "like-mlgov" else "with Bolt's defaults"
    lines = [
        f"ack latency: keep-alive connections, {args.warmup} warm-up requests per target;"
        f" waitress {args.threads} threads; load generator in {generator};"
        f" fake Slack in its own process, answering after {args.slack_delay_ms:g} ms;"
        f" bare Bolt {bare}; mlgov with outbox worker and scheduler, database: {db}"
        + ("; WHAT IF: gc.freeze() once each app is up" if args.gc_freeze else ""),
    ]
    for mode in (CLOSED, OPEN, BUSY):
        chosen = [row for row in rows if row.mode == mode]
        if chosen:
            lines += ["", *table(chosen, mode, args)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ack_latency", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--requests", type=int, default=1000, help="closed loop, per target; 0 skips it (1000)")
    add("--rate", type=float, default=100.0, help="open loop: requests/s; 0 skips it (100)")
    add("--open-requests", type=int, default=1000, help="open loop, per target (1000)")
    add(
        "--arrivals",
        choices=("poisson", "uniform"),
        default="poisson",
        help="open loop: random (seeded) or evenly spaced send times (poisson)",
    )
    add(
        "--no-busy",
        dest="busy",
        action="store_false",
        help="skip the open loop under a 1M-row evaluation in the server's process",
    )
    add("--warmup", type=int, default=100, help="unmeasured, per target (100)")
    add("--clients", type=int, default=50, help="concurrent clients (50)")
    add("--threads", type=int, default=16, help="waitress threads, as `mlgov serve` (16)")
    add(
        "--bare",
        choices=("like-mlgov", "bolt-default"),
        default="like-mlgov",
        help="the bare app acks on the request thread as mlgov does, or runs its listener"
        " on Bolt's default executor (like-mlgov)",
    )
    add(
        "--gc-freeze",
        action="store_true",
        help="what if: gc.freeze() in the server's process once each app is up (off)",
    )
    add(
        "--generator",
        choices=("process", "thread"),
        default="process",
        help="where the load generator runs (process)",
    )
    add(
        "--database-url",
        default=None,
        help="a PostgreSQL URL for mlgov; the run uses a fresh schema and drops"
        " it afterwards (default: SQLite in a temporary folder)",
    )
    add(
        "--slack-delay-ms",
        type=float,
        default=0.0,
        help="the fake Slack answers response_url and chat.postMessage this much"
        " later, as Slack over the internet would (0)",
    )
    add("--phase-timeout", type=float, default=60.0, help="seconds one batch may take (60)")
    add(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for post-ack replies after a batch (60)",
    )
    args = parser.parse_args(argv)
    for name in ("open_requests", "clients", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("requests", "rate", "warmup", "slack_delay_ms"):
        if not 0 <= getattr(args, name) < math.inf:  # also refuses NaN
            parser.error(f"--{name.replace('_', '-')} must be a number, 0 or more")
    if not (args.requests or args.rate):
        parser.error("--requests 0 and --rate 0 leave nothing to measure")
    if args.database_url is not None and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be postgresql://... (SQLite is the default)")
    for name in ("phase_timeout", "drain_timeout"):
        if not 0 < getattr(args, name) <= 600:
            parser.error(f"--{name.replace('_', '-')} must be more than 0 and at most 600")
    if args.rate and args.open_requests / args.rate > args.phase_timeout - 5:
        parser.error(
            f"--open-requests {args.open_requests} at --rate {args.rate:g} takes longer than"
            " --phase-timeout allows; raise it"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the three targets and print the tables; 1 when a request or a reply went wrong."""
    args = parse_args(argv)
    started = time.monotonic()
    # At 50 clients and 16 threads waitress warns of every queued request; the table says it.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print(machine(), flush=True)
    with ExitStack() as stack:
        fake = Child(fake_slack_process, "fake-slack", args.slack_delay_ms / 1000)
        stack.callback(fake.close)
        generator = None
        if args.generator == "process":
            generator = Child(generator_process, "load-generator")
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

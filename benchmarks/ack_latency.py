"""Ack latency of slash commands at 50 concurrent clients, mlgov against a bare Bolt app.

SPEC §10: p99 within 1.5x of a Bolt app that only acks, on the same server stack, and
never near 3 s while a 1M-row evaluation is computed (issue 11: p99 < 100 ms at 100 req/s
while a worker evaluates). Run from the repository root::

    .venv/bin/python -m benchmarks.ack_latency

Three targets, all serving from the start, each a process of its own on 127.0.0.1 with
``bot.server.HttpServer`` (waitress, same thread count): (a) a bare Bolt app whose ``/exp``
listener only acks; (b) `mlgov serve`, embedded (its worker threads in the acking
process); (c) `mlgov serve --workers N` (the acking process only stores each request in the
inbox; N worker processes run them). mlgov answers ``/exp list``. Each target is measured
three ways: a closed loop (as fast as it answers; in ``--rounds`` rounds, the targets
taking turns, so that a slower spell of the machine falls on all alike), an open loop at
``--rate`` requests per second, and that open loop again while 1M-row evaluations run:
uploaded to mlgov one after another (``@mlgov eval EXP-1`` with a file) so that a worker
is always computing one, and for the bare app computed in a process beside it. For mlgov
every row also gives the end-to-end time from each ack to its reply reaching the (fake)
response_url. The fake Slack and the load generator run in processes of their own (see
``benchmarks/_load.py``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from benchmarks._load import (
    REQUEST_TIMEOUT_S,
    Child,
    Phase,
    PhaseResult,
    fake_slack_process,
    generator_process,
    percentile,
    run_phase,
)
from benchmarks._targets import (
    ADMIN,
    EvaluationUploads,
    bare_process,
    evaluations_process,
    mlgov_serve,
)

SCIENTIST = "UALICE"
TARGETS = frozenset({"bare", "embedded", "workers"})
SPEC_RATIO = 1.5
BUSY_TARGET_MS = 100.0
SLACK_ACK_LIMIT_MS = 3000.0
EVALUATION_ROWS = 1_000_000
SEED_EXPERIMENTS = 20  # so that /exp list renders a real listing, not "no experiments"
LIST_NEEDLE = "(running)"  # in every /exp list reply: EXP-1 is started for the uploads

# How a row's requests were sent; the first letters tell the phases' requests apart.
WARMUP, CLOSED, OPEN, BUSY = "warm-up", "closed loop", "open loop", "busy open loop"


class Load(Protocol):
    """CPU load during a batch: a context manager that can say what ran."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> None: ...
    def summary(self) -> str: ...


class BesideEvaluations:
    """For the bare app: 1M-row evaluations in a process of their own beside it."""

    def __init__(self) -> None:
        self.child: Child | None = None
        self.said = ""
        self.error: str | None = None

    def __enter__(self) -> BesideEvaluations:
        self.child = Child(evaluations_process, "evaluations")
        if not self.child.conn.poll(180):
            raise TimeoutError("the evaluation process did not start within 180 s")
        self.child.conn.recv()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.child is not None
        self.said = str(self.child.ask("stop", 60))
        self.child.process.join(30)
        if "FAILED" in self.said:
            self.error = self.said

    def summary(self) -> str:
        return self.said + " (in a process beside the bare app)"


@contextmanager
def database(url: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    """(URL, description): a fresh SQLite file in ``folder``, or a fresh PostgreSQL schema."""
    if url is None:
        path = folder / f"mlgov-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}", "SQLite (WAL)"
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
        yield f"{url}{separator}options=-csearch_path%3D{schema}", "PostgreSQL"
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
    replies: Delivered | None = None  # ephemeral replies at response_url
    reply_ms: list[float] = field(default_factory=list)  # from each ack to its reply
    load: Any = None  # Load: the evaluations during a BUSY row
    cpu_ms: float | None = None  # CPU of the acking process per request, during the batch

    @property
    def requests(self) -> int:
        """Every request of the batch: answered, failed, or not sent in time."""
        result = self.result
        return len(result.latencies_ms) + sum(result.errors.values()) + result.unsent

    @property
    def too_slow(self) -> int:
        """Acks later than Slack waits: their users were shown a failure."""
        return sum(ms > SLACK_ACK_LIMIT_MS for ms in self.result.latencies_ms)

    @property
    def broken(self) -> bool:
        return bool(
            self.result.errors
            or self.result.unsent
            or self.too_slow
            or (self.replies is not None and not self.replies.complete)
            or (self.load is not None and getattr(self.load, "error", None) is not None)
        )


@dataclass(frozen=True)
class Target:
    """What one target is, and what its rows send and expect."""

    name: str
    prefix: str
    text: str  # the /exp command text
    reply_needle: str | None = None  # in every response_url reply; None: no reply expected
    busy: Callable[[], Load] = BesideEvaluations
    pid: int | None = None  # the acking process, whose CPU time is read from /proc


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

    def delivered(self, prefix: str, needle: str, expected: int) -> Delivered:
        """Wait (bounded by --drain-timeout) until ``expected`` replies reached the fake."""
        deadline = time.monotonic() + self.args.drain_timeout
        while True:
            arrived, good, wrong = self.fake.ask(("count", "response_url", prefix, "", needle), 30)
            if arrived >= expected or time.monotonic() > deadline:
                return Delivered(good, arrived, expected, wrong)
            time.sleep(0.1)

    def phase(
        self, port: int, target: Target, mode: str, count: int, rate: float = 0.0, turn: str = ""
    ) -> Row:
        """Send ``count`` requests (under load in BUSY), then wait for their replies."""
        prefix = f"{target.prefix}{mode[0]}{turn}"  # tells this batch's replies from others'
        texts = [target.text] * count
        load = target.busy() if mode == BUSY else None
        with load or nullcontext():  # the load stops before the drain, which is not measured
            cpu_before = cpu_seconds(target.pid)
            result = self.send(port, prefix, SCIENTIST, "/exp", texts, rate=rate)
            cpu_after = cpu_seconds(target.pid)
        row = Row(target.name, mode, result, load=load)
        if cpu_before is not None and cpu_after is not None and count:
            row.cpu_ms = (cpu_after - cpu_before) * 1000.0 / count
        drained = time.perf_counter()
        if target.reply_needle is not None:
            key_prefix = f"{prefix}-"
            row.replies = self.delivered(key_prefix, target.reply_needle, len(result.acked_at))
            arrivals = self.fake.ask(("arrivals", "response_url", key_prefix), 30)
            row.reply_ms = sorted(
                (arrivals[key] - acked) * 1000.0
                for key, acked in result.acked_at.items()
                if key in arrivals
            )
        print(
            f"  {target.name}, {mode}{f' {turn}' if turn else ''}: {count} requests in"
            f" {result.wall_s:.1f} s, replies done {time.perf_counter() - drained:.1f} s later",
            file=sys.stderr,
            flush=True,
        )
        return row

    def measure(self, targets: list[tuple[int, Target]]) -> None:
        """Warm up; then the closed loop in rounds, the targets taking turns; then, target
        by target, an open loop, and the open loop under CPU load."""
        args = self.args
        if args.warmup:  # imports, Bolt's first auth.test, pool connections: not measured
            for port, target in targets:
                self.phase(port, target, WARMUP, args.warmup)
        if args.requests:
            # A shared machine has slower and faster spells: in turns, they fall on every
            # target alike instead of on whichever was measured then. A round's replies are
            # drained before the next target's turn, so none is measured beside them.
            rounds: dict[str, list[Row]] = {target.name: [] for _, target in targets}
            counts = shares(args.requests, args.rounds)
            for turn, count in enumerate(counts, start=1):
                for port, target in targets:
                    label = f"{turn}/{len(counts)}" if len(counts) > 1 else ""
                    rounds[target.name].append(self.phase(port, target, CLOSED, count, 0, label))
            self.rows += [pooled(rows) for rows in rounds.values()]
        for port, target in targets:
            if args.rate:
                self.rows.append(self.phase(port, target, OPEN, args.open_requests, args.rate))
            if args.rate and args.busy:
                self.rows.append(self.phase(port, target, BUSY, args.open_requests, args.rate))

    def seed(self, port: int, tag: str) -> None:
        """An admin adds project churn and a scientist, who proposes and starts experiments."""
        criterion = "--hypothesis it helps --metric auc --min-delta 0.01"
        steps = [
            (ADMIN, "/mlgov", ["project add churn <#CCHURN|churn>"], "Project *churn* created"),
            (ADMIN, "/mlgov", ["member add <@UALICE|alice> scientist churn"], "now scientist"),
            (SCIENTIST, "/exp",
             [f"new churn Seed {i} {criterion}" for i in range(SEED_EXPERIMENTS)],
             "Created *EXP-"),
            (SCIENTIST, "/exp", ["start EXP-1"], "→ running"),  # it takes the uploads
        ]  # fmt: skip
        for n, (user, command, texts, needle) in enumerate(steps):
            prefix = f"seed{tag}{n}"  # each target's own: the fake keeps every reply
            result = self.send(port, prefix, user, command, texts, clients=1)
            if result.errors or not self.delivered(f"{prefix}-", needle, len(texts)).complete:
                raise RuntimeError(f"seeding failed at {command} {texts[0]!r}: {result.errors}")

    def run(self, database_url: str | None, folder: Path) -> str:
        """Every target, all serving at once (measured in turn); the database's description."""
        with ExitStack() as stack:
            targets, described = self.start(stack, database_url, folder)
            self.measure(targets)
        return described

    def start(
        self, stack: ExitStack, database_url: str | None, folder: Path
    ) -> tuple[list[tuple[int, Target]], str]:
        """Start and seed the chosen targets, stopped when ``stack`` closes: each one's port
        and Target, and the database's description."""
        args, threads = self.args, self.args.threads
        targets: list[tuple[int, Target]] = []
        if "bare" in args.targets:
            bare = Child(bare_process, "bare-bolt", self.fake_url + "/api/", threads)
            stack.callback(bare.close)
            if not bare.conn.poll(60):
                raise TimeoutError("the bare Bolt app did not start within 60 s")
            name, pid = "(a) bare Bolt, ack only", bare.process.pid
            targets.append((bare.conn.recv(), Target(name, "bare", "list", pid=pid)))
        file_url = str(self.fake.ask(("host", EVALUATION_ROWS), 120))
        configurations = []
        if "embedded" in args.targets:
            configurations.append((0, "(b) mlgov embedded"))
        if args.workers and "workers" in args.targets:
            configurations.append((args.workers, f"(c) mlgov, {args.workers} worker proc."))
        described = ""
        for workers, name in configurations:
            url, described = stack.enter_context(database(database_url, folder))
            port, pid = stack.enter_context(
                mlgov_serve(self.fake_url, url, threads, workers, folder, args.worker_nice)
            )
            self.seed(port, f"w{workers}")

            def uploads(port: int = port, url: str = url) -> Load:
                return EvaluationUploads(port, file_url, url, SCIENTIST)

            targets.append((port, Target(name, f"w{workers}", "list", LIST_NEEDLE, uploads, pid)))
        return targets, described


def shares(total: int, parts: int) -> list[int]:
    """``total`` requests in ``parts`` batches as even as can be (none empty)."""
    parts = max(1, min(parts, total))
    return [total // parts + int(i < total % parts) for i in range(parts)]


def pooled(rows: list[Row]) -> Row:
    """One target's rounds as one row: every latency and reply pooled, counts summed, CPU
    per request averaged over all its requests."""
    first = rows[0]
    errors: Counter[str] = Counter()
    for row in rows:
        errors.update(row.result.errors)
    result = PhaseResult(
        [ms for row in rows for ms in row.result.latencies_ms],
        errors,
        sum(row.result.wall_s for row in rows),
        sum(row.result.unsent for row in rows),
        [ms for row in rows for ms in row.result.late_ms],
        {key: at for row in rows for key, at in row.result.acked_at.items()},
    )
    merged = Row(first.target, first.mode, result)
    measured = [row.cpu_ms * row.requests for row in rows if row.cpu_ms is not None]
    if len(measured) == len(rows) and merged.requests:
        merged.cpu_ms = math.fsum(measured) / merged.requests
    replies = [row.replies for row in rows if row.replies is not None]
    if replies:
        merged.replies = Delivered(
            sum(r.good for r in replies),
            sum(r.arrived for r in replies),
            sum(r.expected for r in replies),
            next((r.wrong for r in replies if r.wrong), ""),
        )
    merged.reply_ms = sorted(ms for row in rows for ms in row.reply_ms)
    return merged


# --- reporting ----------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU seconds of process ``pid`` so far (all its threads, not its
    children), from /proc; None where there is no /proc."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


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
            f" last is answered; {args.requests} requests per target, in"
            f" {len(shares(args.requests, args.rounds))} rounds taken in turn"
        )
    arrivals = "Poisson" if args.arrivals == "poisson" else "evenly spaced"
    title = (
        f"OPEN LOOP: {args.rate:g} requests/s offered ({arrivals} arrivals, the same schedule"
        f" for every target) over {args.clients} clients; {args.open_requests} requests per"
        " target; latency from each request's scheduled time"
    )
    if mode == BUSY:
        title += "; 1M-row evaluations run all along (for mlgov: in its workers)"
    return title


def _ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p):>8.1f}" if values else f"{'-':>8}"


def table(rows: list[Row], mode: str, args: argparse.Namespace) -> list[str]:
    """One mode's table, then each mlgov row's p99 and p50 over the bare row's."""
    opened = mode != CLOSED
    late = f" {'late p99':>8}" if opened else ""
    lines = [
        _title(mode, args),
        f"{'target':<28} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'errors':>6} {'req/s':>7}{late} {'CPU ms':>6}  {'replies':<10} {'reply p50':>9}"
        f" {'reply p99':>9}",
    ]
    for row in rows:
        ms = sorted(row.result.latencies_ms)
        errors = row.requests - len(ms)
        rate = len(ms) / row.result.wall_s if row.result.wall_s else math.nan
        late = f" {percentile(sorted(row.result.late_ms), 99):>8.1f}" if opened else ""
        cpu = "-" if row.cpu_ms is None else f"{row.cpu_ms:.2f}"
        replies = str(row.replies) if row.replies is not None else "none expected"
        lines.append(
            f"{row.target:<28} {row.requests:>8} {_ms(ms, 50)} {_ms(ms, 99)} "
            f"{max(ms, default=math.nan):>8.1f} {errors:>6} {rate:>7.0f}{late} {cpu:>6}"
            f"  {replies:<10} {_ms(row.reply_ms, 50):>9} {_ms(row.reply_ms, 99):>9}"
        )
        for reason, count in sorted(row.result.errors.items()):
            lines.append(f"{'':<28}   {count} x {reason}")
        if row.result.unsent:
            lines.append(f"{'':<28}   {row.result.unsent} not sent before --phase-timeout")
        if row.too_slow:
            lines.append(f"{'':<28}   {row.too_slow} acked after Slack's 3 s (shown as failed)")
        if row.replies is not None and row.replies.wrong:
            lines.append(f"{'':<28}   for example: {row.replies.wrong[:150]!r}")
        if row.load is not None:
            lines.append(f"{'':<28}   load: {row.load.summary()}")
    bare = [row for row in rows if row.target.startswith("(a)")]
    reference = sorted(bare[0].result.latencies_ms) if bare else []
    for row in rows:
        ms = sorted(row.result.latencies_ms)
        if row in bare:
            continue
        if not ms:
            lines.append(f"p99 {row.target}: n/a (no successful requests)")
            continue
        line = f"p99 {row.target}"
        if reference:
            ratio = percentile(ms, 99) / percentile(reference, 99)
            verdict = "within" if ratio <= SPEC_RATIO else "OVER"
            line += (
                f" / p99 bare = {ratio:.2f}x ({verdict} the SPEC target of {SPEC_RATIO}x);"
                f" p50 ratio {percentile(ms, 50) / percentile(reference, 50):.2f}x"
            )
        if mode == BUSY:
            p99 = percentile(ms, 99)
            verdict = "within" if p99 < BUSY_TARGET_MS else "OVER"
            line += f"; p99 {p99:.1f} ms ({verdict} the target of {BUSY_TARGET_MS:.0f} ms)"
        lines.append(line)
    if mode == BUSY:
        mlgov = [row.result.latencies_ms for row in rows if row not in bare]
        slowest = max((max(ms, default=0.0) for ms in mlgov), default=0.0)
        lines.append(
            f"slowest mlgov ack while evaluating: {slowest:.0f} ms ="
            f" {slowest / SLACK_ACK_LIMIT_MS:.1%} of Slack's 3 s limit"
        )
    return lines


def report(rows: list[Row], args: argparse.Namespace, db: str) -> str:
    generator = (
        "its own process" if args.generator == "process" else "threads in the bench's process"
    )
    lines = [
        f"ack latency: keep-alive connections, {args.warmup} warm-up requests per target;"
        f" waitress {args.threads} threads in every target; load generator in {generator};"
        f" fake Slack in its own process, answering after {args.slack_delay_ms:g} ms;"
        f" mlgov answers /exp list, database: {db};"
        " reply = from the ack to the reply's arrival at the fake response_url;"
        " CPU ms = CPU time of the acking process per request while the batch was sent"
        " (for embedded mlgov it includes its worker threads; steadier than latency on a"
        " shared machine)",
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
    add(
        "--requests",
        type=int,
        default=10_000,
        help="closed loop, per target; 0 skips it (10000: its p99 rests on the 100 slowest)",
    )
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
        help="skip the open loop while 1M-row evaluations run",
    )
    add("--warmup", type=int, default=100, help="unmeasured, per target (100)")
    add("--clients", type=int, default=50, help="concurrent clients (50)")
    add("--threads", type=int, default=16, help="waitress threads, as `mlgov serve` (16)")
    add(
        "--workers",
        type=int,
        default=2,
        help="worker processes of target (c), `mlgov serve --workers N`; 0 skips it (2)",
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
        help="a PostgreSQL URL for mlgov; each mlgov target uses a fresh schema, dropped"
        " afterwards (default: a fresh SQLite file each)",
    )
    add(
        "--slack-delay-ms",
        type=float,
        default=0.0,
        help="the fake Slack answers response_url and chat.postMessage this much"
        " later, as Slack over the internet would (0)",
    )
    add(
        "--targets",
        type=lambda text: frozenset(text.split(",")),
        default=TARGETS,
        help="which of bare,embedded,workers to measure, comma-separated (all three)",
    )
    add(
        "--worker-nice",
        type=int,
        default=None,
        help="passed to `mlgov serve --workers N --worker-nice` (its default)",
    )
    add(
        "--rounds",
        type=int,
        default=5,
        help="the closed loop in this many rounds per target, the targets taking turns (5)",
    )
    add("--phase-timeout", type=float, default=60.0, help="seconds one batch may take (60)")
    add(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for post-ack replies after a batch (300)",
    )
    args = parser.parse_args(argv)
    for name in ("open_requests", "clients", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("requests", "rate", "warmup", "slack_delay_ms", "workers"):
        if not 0 <= getattr(args, name) < math.inf:  # also refuses NaN
            parser.error(f"--{name.replace('_', '-')} must be a number, 0 or more")
    if not args.targets or not args.targets <= TARGETS:
        parser.error(f"--targets takes some of {','.join(sorted(TARGETS))}")
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
    """Run the targets and print the tables; 1 when a request or a reply went wrong, or an
    ack came later than Slack's 3 s."""
    args = parse_args(argv)
    started = time.monotonic()
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
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlgov-bench-")))
        db = bench.run(args.database_url, folder)
    print(report(bench.rows, args, db))
    print(f"after {time.monotonic() - started:.0f} s, " + machine().replace("machine: ", ""))
    return 1 if any(row.broken for row in bench.rows) else 0


if __name__ == "__main__":
    sys.exit(main())

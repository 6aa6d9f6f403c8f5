"""The ack-latency benchmark's load generator and helper processes.

A phase sends signed slash commands from a number of client threads, each on one keep-alive
connection, in a closed loop (the next request as soon as the last is answered) or in an
open loop (each request at its scheduled time, latency counted from that time).
"""

from __future__ import annotations

import http.client
import itertools
import math
import multiprocessing
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

SIGNING_SECRET = "bench-signing-secret"
TEAM = "T1"
REQUEST_TIMEOUT_S = 10.0
START_DELAY_S = 0.1  # open loop: the schedule starts this long after every client connected


@dataclass(frozen=True)
class Phase:
    """One batch of signed slash commands, one text per request, sent by ``clients`` threads.

    ``rate`` 0 is a closed loop; otherwise requests are due at ``rate`` per second on average,
    ``arrivals`` "poisson" (random gaps, seeded) or "uniform" (even gaps).
    """

    port: int
    fake_url: str  # the fake Slack's root; each request's response_url is under it
    key_prefix: str  # response_url keys are f"{key_prefix}-{i}"
    user: str
    command: str
    texts: tuple[str, ...]
    clients: int
    deadline_s: float
    rate: float = 0.0
    arrivals: str = "poisson"
    seed: int = 0


@dataclass
class PhaseResult:
    latencies_ms: list[float]
    errors: Counter[str]
    wall_s: float
    unsent: int
    late_ms: list[float] = field(default_factory=list)  # open loop: sent minus scheduled
    # Wall-clock time (time.time(), comparable across processes) of each acked request's
    # ack, by response_url key: the start of its end-to-end time to the reply.
    acked_at: dict[str, float] = field(default_factory=dict)


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_ms:
        return math.nan
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def arrival_offsets(count: int, rate: float, arrivals: str, seed: int) -> list[float]:
    """Seconds from the start at which each request is due."""
    if arrivals == "uniform":
        return [i / rate for i in range(count)]
    rng = random.Random(seed)  # seeded: every target gets the same bursts
    offsets, due = [], 0.0
    for _ in range(count):
        offsets.append(due)
        due += rng.expovariate(rate)
    return offsets


def signed_headers(body: str, content_type: str) -> dict[str, str]:
    """Headers exactly as Slack signs a request, now."""
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature or "",
    }


def _signed_requests(phase: Phase) -> list[tuple[bytes, dict[str, str]]]:
    """Bodies and headers exactly as Slack sends a slash command, signed now."""
    built = []
    for i, text in enumerate(phase.texts):
        key = f"{phase.key_prefix}-{i}"
        body = urllib.parse.urlencode({
            "token": "unused", "team_id": TEAM, "team_domain": "bench", "channel_id": "CGENERAL",
            "channel_name": "general", "user_id": phase.user, "user_name": phase.user.lower(),
            "command": phase.command, "text": text, "api_app_id": "A1",
            "response_url": f"{phase.fake_url}/response/{key}", "trigger_id": f"trigger-{key}",
        })  # fmt: skip
        built.append((body.encode(), signed_headers(body, "application/x-www-form-urlencoded")))
    return built


def _connect(port: int) -> http.client.HTTPConnection | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, REQUEST_TIMEOUT_S)
    try:
        conn.connect()
    except OSError:
        return None  # counted when the first request on it fails
    return conn


def run_phase(phase: Phase) -> PhaseResult:
    """Send every request once, closed or open loop; connections are opened beforehand."""
    requests = _signed_requests(phase)
    offsets = (
        arrival_offsets(len(requests), phase.rate, phase.arrivals, phase.seed)
        if phase.rate
        else None
    )
    next_index = itertools.count().__next__  # atomic under the GIL: no lock needed
    latencies: list[float] = []
    late: list[float] = []
    acked_at: dict[str, float] = {}
    errors: Counter[str] = Counter()
    merge = threading.Lock()
    ready = threading.Barrier(phase.clients + 1)
    start = stop_at = 0.0  # set before the barrier opens; every client reads them after

    def client() -> None:
        mine: list[float] = []
        my_acks: dict[str, float] = {}
        my_late: list[float] = []
        failed: Counter[str] = Counter()
        conn = _connect(phase.port)
        ready.wait(30)  # a broken barrier ends this client: its requests count as unsent
        while True:
            i = next_index()
            if i >= len(requests):
                break
            if offsets is None:  # closed loop: latency from the send
                if time.perf_counter() >= stop_at:
                    break
                origin = time.perf_counter()
            else:  # open loop: from the schedule, so a late send counts against the server
                origin = start + offsets[i]
                if origin >= stop_at:
                    break
                if (wait := origin - time.perf_counter()) > 0:
                    time.sleep(wait)
                my_late.append((time.perf_counter() - origin) * 1000.0)
            body, headers = requests[i]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", phase.port, REQUEST_TIMEOUT_S)
            try:
                conn.request("POST", "/slack/events", body, headers)
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - origin) * 1000.0
            except (OSError, http.client.HTTPException) as exc:
                failed[type(exc).__name__] += 1
                conn.close()
                conn = None
                continue
            if response.status == 200:
                mine.append(elapsed)
                my_acks[f"{phase.key_prefix}-{i}"] = time.time()
            else:
                failed[f"HTTP {response.status}"] += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with merge:
            latencies.extend(mine)
            acked_at.update(my_acks)
            late.extend(my_late)
            errors.update(failed)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(phase.clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + (START_DELAY_S if offsets is not None else 0.0)
    stop_at = start + phase.deadline_s
    ready.wait(30)
    for thread in threads:
        thread.join(max(0.0, stop_at - time.perf_counter()) + REQUEST_TIMEOUT_S + 1)
    wall = time.perf_counter() - start
    with merge:
        done = len(latencies) + sum(errors.values())
        unsent = len(requests) - done
        return PhaseResult(list(latencies), Counter(errors), wall, unsent, list(late), acked_at)


def generator_process(conn: Connection) -> None:
    """Run phases sent over ``conn`` until told to stop (None)."""
    while (phase := conn.recv()) is not None:
        conn.send(run_phase(phase))


def predictions_csv(rows: int, seed: int = 0) -> bytes:
    """A held-out set as a scientist uploads it: ids, labels and a model's probabilities."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.3).astype(int)
    scores = np.round(1 / (1 + np.exp(-(1.5 * labels + rng.normal(0, 1, rows) - 1))), 6)
    lines = [
        f"row-{i:07d},{y},{p:.6f}" for i, (y, p) in enumerate(zip(labels, scores, strict=True))
    ]
    return ("id,y_true,y_score\n" + "\n".join(lines) + "\n").encode()


def fake_slack_process(conn: Connection, delay_s: float = 0.0) -> None:
    """Serve the fake Slack Web API; answer questions about its calls over ``conn``.

    ("count", method, key prefix, scope, needle) answers (calls, of those with the needle
    in their text, the first text without it or ""), counting only calls whose
    response_url key has the prefix and whose text has the scope. ("arrivals", method, key
    prefix) answers {key: wall-clock time of its first call}. ("host", rows) serves a
    predictions file of that many rows and answers its url_private.
    """
    from tests.fakes.slack_api import Call, FakeSlack

    class TimedFake(FakeSlack):
        def _handle(self, call: Call, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
            call.params["_at"] = time.time()  # on arrival, before any --slack-delay-ms
            return super()._handle(call, raw)

    with TimedFake() as fake:
        if delay_s:
            for method in ("response_url", "chat.postMessage"):
                fake.delay_next(method, delay_s, times=100_000)
        conn.send(fake.base_url)
        while (query := conn.recv()) is not None:
            kind, *rest = query
            if kind == "host":
                (rows,) = rest
                conn.send(fake.host_file(f"T1-F{rows}/predictions.csv", predictions_csv(rows)))
                continue
            method, prefix = rest[0], rest[1]
            calls = [c for c in fake.calls(method) if c.params.get("_key", "").startswith(prefix)]
            if kind == "arrivals":
                first: dict[str, float] = {}
                for call in calls:
                    first.setdefault(call.params["_key"], call.params["_at"])
                conn.send(first)
                continue
            scope, needle = rest[2], rest[3]
            texts = [str(c.params.get("text", "")) for c in calls]
            texts = [t for t in texts if scope in t]
            wrong = [t for t in texts if needle not in t]
            conn.send((len(texts), len(texts) - len(wrong), wrong[0] if wrong else ""))


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

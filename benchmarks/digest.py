"""Digest speed: every project's weekly digest from 2M audit events, and at double the size.

SPEC §10: 200 projects, 100k experiments, 2M audit events; the digest for all projects in
under 2 s and 500 MB; doubling the data at most doubles the time. Run from the repository
root::

    .venv/bin/python -m benchmarks.digest

A seeded generator builds ``DigestData`` as storage would hand it over (categorical
actions and statuses, integer keys, UTC timestamps): experiments created over two years,
most started, many analyzed and concluded with an outcome, results reviews requested and
decided (a fifth with changes requested, then concluded and reviewed again), accepted,
some scheduled and shipped, some abandoned; links, evaluations and project-level events
fill the log up to ``--events``. The timed call is ``build_digests`` for all projects:
the median of ``--repeats`` runs after one untimed warm-up for the time, the fastest runs
for the doubling ratio (as benchmarks/evaluation.py), the sizes taking turns so that other
work on a shared machine slows them alike. Memory is measured in a fresh
process that loads the frames (pickled by this one) and builds the digests, as the job
would: its peak RSS while building them, data and libraries included, and the digest's
own allocations by ``tracemalloc``. Figures never change the exit status.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from benchmarks.ack_latency import machine

if TYPE_CHECKING:
    from bot.domain.digest import DigestData

TIME_TARGET_S, MEMORY_TARGET_MB, RATIO_TARGET = 2.0, 500.0, 2.0
ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 11, 24, 8, 0, tzinfo=ZONE)  # a Monday at 08:00, the default digest time
DAY_NS = 86_400 * 10**9
REPO = Path(__file__).resolve().parents[1]
STATUSES = "proposed running analyzing in_review approved scheduled shipped closed abandoned"
ACTIONS = (
    "created start analyze conclude review_requested review_approved review_changes_requested"
    " request_changes accept_results schedule ship abandon link evaluation rotation"
)
OUTCOMES = ("success", "failure", "inconclusive")
NONE = -1


def make_data(projects: int, experiments: int, events: int, seed: int = 0) -> DigestData:
    """A workspace's audit log and the frames around it, consistent with one another."""
    import numpy as np
    import pandas as pd

    from bot.domain.digest import DigestData

    rng = np.random.default_rng(seed)
    n, now = experiments, int(pd.Timestamp(NOW).value)
    weight = rng.pareto(1.2, projects) + 1.0  # a few large projects, many small ones
    project = rng.choice(projects, n, p=weight / weight.sum())
    created = np.sort(now - rng.integers(DAY_NS, 730 * DAY_NS, n))
    team = np.maximum(3, np.bincount(project, minlength=projects) // 12)

    def person() -> Any:
        return project * 1000 + rng.integers(0, team[project])

    def gap(mean_days: float) -> Any:
        return (rng.exponential(mean_days, n) * DAY_NS).astype(np.int64) + 60 * 10**9

    def chance(p: float) -> Any:
        return rng.random(n) < p

    owner, reviewer_a, reviewer_b = person(), person(), person()
    reviewer_b = np.where(reviewer_b == reviewer_a, reviewer_b + 1, reviewer_b)
    started = chance(0.85)
    analyzed = started & chance(0.7)
    concluded = started & chance(0.85)
    redone = concluded & chance(0.2)  # changes were requested once
    start = created + gap(4)
    analyze = start + gap(10)
    conclude1 = np.where(analyzed, analyze, start) + gap(6)
    request1 = conclude1 + gap(0.1)
    a1, b1 = request1 + gap(1.5), request1 + gap(2.0)
    conclude2 = a1 + gap(5)
    request2 = conclude2 + gap(0.1)
    a2, b2 = request2 + gap(1.5), request2 + gap(2.0)
    first = rng.choice(3, n, p=[0.35, 0.4, 0.25])
    outcome = np.where(redone & chance(0.3), rng.choice(3, n), first)
    accept = np.where(redone, np.maximum(a2, b2), np.maximum(a1, b1))
    scheduled = concluded & (outcome == 0) & chance(0.6)
    schedule = accept + gap(7)
    shipped = scheduled & chance(0.7)
    ship = schedule + gap(14)
    abandoned = ~concluded & chance(0.5)
    abandon = np.where(analyzed, analyze, np.where(started, start, created)) + gap(20)
    review1, review2 = 2 * np.arange(n) + 1, 2 * np.arange(n) + 2
    accepted_to = np.where(outcome == 0, "approved", "closed")
    # (which experiments, action, from, to, when, outcome, review): the lifecycle in order,
    # each step later than the one before, so cutting at `now` leaves a consistent state.
    steps = [
        (np.ones(n, bool), "created", None, "proposed", created, NONE, NONE),
        (started, "start", "proposed", "running", start, NONE, NONE),
        (analyzed, "analyze", "running", "analyzing", analyze, NONE, NONE),
        (concluded, "conclude", None, "in_review", conclude1, first, NONE),
        (concluded, "review_requested", None, None, request1, NONE, review1),
        (concluded & ~redone, "review_approved", None, None, a1, NONE, review1),
        (concluded & ~redone, "review_approved", None, None, b1, NONE, review1),
        (redone, "review_changes_requested", None, None, a1, NONE, review1),
        (redone, "request_changes", "in_review", "analyzing", a1, NONE, review1),
        (redone, "conclude", "analyzing", "in_review", conclude2, outcome, NONE),
        (redone, "review_requested", None, None, request2, NONE, review2),
        (redone, "review_approved", None, None, a2, NONE, review2),
        (redone, "review_approved", None, None, b2, NONE, review2),
        (concluded, "accept_results", "in_review", accepted_to, accept, NONE, review1 + redone),
        (scheduled, "schedule", "approved", "scheduled", schedule, NONE, NONE),
        (shipped, "ship", "scheduled", "shipped", ship, NONE, NONE),
        (abandoned, "abandon", None, "abandoned", abandon, NONE, NONE),
    ]
    parts = []
    for mask, action, source, target, when, result, review in steps:
        rows = np.flatnonzero(mask & (when <= now))

        def pick(value: Any, rows: Any = rows) -> Any:
            return value[rows] if isinstance(value, np.ndarray) else value

        parts.append(
            pd.DataFrame(
                {"x": rows, "action": action, "from_status": source, "to_status": pick(target)}
                | {"at": when[rows], "outcome": pick(result), "review_id": pick(review)}
            )
        )
    life = pd.concat(parts, ignore_index=True)
    latest = life.dropna(subset=["to_status"]).sort_values("at", kind="stable").groupby("x")
    last = latest.tail(1)
    status = np.full(n, "proposed", dtype=object)
    status[last["x"].to_numpy()] = last["to_status"].to_numpy()
    # Links, evaluations (on experiments) and rotations (on projects) up to --events.
    extra = max(events - len(life), 0)
    x = rng.integers(0, n, extra)
    kind = rng.choice(np.array(["link", "evaluation", "rotation"]), extra, p=[0.7, 0.2, 0.1])
    fill = pd.DataFrame({"x": x, "action": kind, "from_status": None, "to_status": None})
    fill["at"] = created[x] + (rng.random(extra) * (now - created[x])).astype(np.int64)
    log = pd.concat([life, fill.assign(outcome=NONE, review_id=NONE)], ignore_index=True)
    ids = np.arange(1, n + 1)
    log_frame = _events(log, ids, project)
    evaluations = _evaluations(rng, log_frame[log_frame["action"] == "evaluation"], project)
    pending = []
    for mask, who, since, until, review in (
        (concluded & ~redone, reviewer_a, request1, a1, review1),
        (concluded & ~redone, reviewer_b, request1, b1, review1),
        (redone, reviewer_a, request1, a1, review1),
        (redone, reviewer_b, request1, a1, review1),  # until the change request replaced it
        (redone, reviewer_a, request2, a2, review2),
        (redone, reviewer_b, request2, b2, review2),
    ):
        rows = np.flatnonzero(mask & (since <= now) & (until > now))
        pending.append(
            pd.DataFrame(
                {
                    "review_id": review[rows],
                    "experiment_id": ids[rows],
                    "project_id": project[rows] + 1,
                    "reviewer": [f"U{r:08d}" for r in who[rows]],
                    "requested_at": pd.to_datetime(since[rows], utc=True),
                }
            )
        )
    concluded_now = concluded & (conclude1 <= now)
    experiments_frame = pd.DataFrame(
        {
            "experiment_id": ids,
            "project_id": project + 1,
            "number": ids,
            "title": [f"Experiment {i}" for i in ids],
            "owner_id": [f"U{o:08d}" for o in owner],
            "status": pd.Categorical(status, categories=STATUSES.split()),
            "outcome": pd.Categorical(
                np.where(concluded_now, np.array(OUTCOMES)[outcome], None), categories=OUTCOMES
            ),
            "workstream": pd.Categorical(np.where(chance(0.6), "main", "side")),
            "created_at": pd.to_datetime(created, utc=True),
        }
    )
    projects_frame = pd.DataFrame(
        {
            "project_id": np.arange(1, projects + 1),
            "slug": [f"project-{i}" for i in range(1, projects + 1)],
            "wip_main": 1,
            "wip_side": 3,
            "wip_project": np.where(rng.random(projects) < 0.3, 10, 0),
        }
    )
    return DigestData(
        projects_frame,
        experiments_frame,
        log_frame,
        pd.concat(pending, ignore_index=True),
        evaluations,
    )


def _events(log: Any, ids: Any, project: Any) -> Any:
    """The generated log in the frame's shape: categories, nullable ids, UTC times."""
    import numpy as np
    import pandas as pd

    x = log["x"].to_numpy()
    on_project = (log["action"] == "rotation").to_numpy()
    categories = pd.Categorical
    frame = pd.DataFrame(
        {
            "experiment_id": pd.array(np.where(on_project, NONE, ids[x]), dtype="Int64"),
            "project_id": project[x] + 1,
            "action": categories(log["action"], categories=ACTIONS.split()),
            "from_status": categories(log["from_status"], categories=STATUSES.split()),
            "to_status": categories(log["to_status"], categories=STATUSES.split()),
            "outcome": categories.from_codes(log["outcome"].to_numpy(), categories=OUTCOMES),
            "review_id": pd.array(log["review_id"].to_numpy(), dtype="Int64"),
            "at": pd.to_datetime(log["at"].to_numpy(), utc=True),
        }
    )
    frame.loc[on_project, "experiment_id"] = pd.NA
    frame["review_id"] = frame["review_id"].mask(frame["review_id"] == NONE)
    # Storage reads the log in id order, which is time order.
    return frame.sort_values("at", kind="stable", ignore_index=True)


def _evaluations(rng: Any, events: Any, project: Any) -> Any:
    """One evaluation per "evaluation" event: AUC in most projects, RMSE in some."""
    import numpy as np
    import pandas as pd

    count = len(events)
    pid = events["project_id"].to_numpy()
    rmse = pid % 5 == 0
    delta = np.where(rmse, rng.normal(-0.3, 1.0, count), rng.normal(0.004, 0.01, count))
    improvement = np.where(rmse, -delta, delta)
    noise = np.where(rmse, 0.3, 0.004)
    verdict = np.where(
        improvement > noise,
        "better",
        np.where(improvement < -noise, "worse", "no significant difference"),
    )
    met = pd.array(np.where(rmse, improvement >= 0.5, improvement >= 0.01) & (verdict == "better"))
    met[rng.random(count) < 0.1] = pd.NA  # no success criterion set
    baseline = pd.array(rng.integers(1, len(project) + 1, count), dtype="Int64")
    baseline[rng.random(count) < 0.2] = pd.NA
    return pd.DataFrame(
        {
            "experiment_id": events["experiment_id"].to_numpy(),
            "project_id": pid,
            "at": events["at"].to_numpy(),
            "metric": pd.Categorical(np.where(rmse, "rmse", "auc")),
            "delta": delta,
            "improvement": improvement,
            "verdict": pd.Categorical(verdict),
            "criterion_met": met,
            "baseline_number": baseline,
        }
    ).reset_index(drop=True)


# --- measuring ----------------------------------------------------------------------------


def _peak_rss_reset() -> bool:
    """Reset Linux's peak-RSS mark (VmHWM) so it measures from now; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _rss_mb(field: str) -> float | None:
    """VmRSS (now) or VmHWM (peak) of this process in MB, where /proc has them."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _frames_mb(data: DigestData) -> float:
    frames = (data.projects, data.experiments, data.events, data.pending_reviews)
    return float(sum(f.memory_usage(deep=True).sum() for f in (*frames, data.evaluations))) / 2**20


@dataclass(frozen=True)
class Memory:
    """A fresh process that loads the frames and builds the digests, as the job would."""

    libraries_mb: float | None  # RSS with pandas and the digest imported
    loaded_mb: float | None  # ... and the frames loaded
    peak_mb: float | None  # its peak while building the digests (since the load)
    traced_mb: float  # the digest's own peak allocations (tracemalloc, a second run)


def memory_in_fresh_process(data: DigestData) -> Memory:
    """Peak memory of a process that holds only the libraries, the frames and the digest.

    Measured apart: the generator's garbage stays in the measuring process's heap.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.pickle"
        with path.open("wb") as out:
            pickle.dump(data, out, protocol=pickle.HIGHEST_PROTOCOL)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.digest", "--memory-of", str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
    return Memory(**json.loads(done.stdout.strip().splitlines()[-1]))


def _measure_memory(path: str) -> int:
    """The child of :func:`memory_in_fresh_process`: print its figures as JSON."""
    from bot.domain.digest import Week, build_digests

    libraries = _rss_mb("VmRSS")
    with open(path, "rb") as source:
        data = pickle.load(source)
    gc.collect()
    loaded = _rss_mb("VmRSS")
    week = Week.ending_before(NOW, ZONE)
    peak = None
    if _peak_rss_reset():
        build_digests(data, week, NOW, ZONE)
        peak = _rss_mb("VmHWM")
    gc.collect()
    tracemalloc.start()
    build_digests(data, week, NOW, ZONE)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    figures = {"libraries_mb": libraries, "loaded_mb": loaded, "peak_mb": peak}
    print(json.dumps(figures | {"traced_mb": traced}))
    return 0


@dataclass(frozen=True)
class Run:
    scale: int
    sizes: tuple[int, int, int]
    seconds: list[float]
    first: float
    memory: Memory
    data_mb: float
    generate_s: float
    summary: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(scales: list[int], args: argparse.Namespace) -> list[Run]:
    """Generate the data at every scale, then time ``build_digests`` for all its projects.

    The timed runs take turns across the scales (1x, 2x, 1x, 2x, ...), so that other work
    on a shared machine slows every size alike instead of skewing the ratio.
    """
    from bot.domain.digest import Week, build_digests

    week = Week.ending_before(NOW, ZONE)
    sizes, datasets, generated = {}, {}, {}
    for scale in scales:
        sizes[scale] = (args.projects * scale, args.experiments * scale, args.events * scale)
        started = time.perf_counter()
        datasets[scale] = make_data(*sizes[scale], seed=args.seed)
        generated[scale] = time.perf_counter() - started
    gc.collect()
    first, digests, seconds = {}, {}, {scale: [] for scale in scales}
    for scale in scales:
        first[scale], digests[scale] = _timed(
            lambda data=datasets[scale]: build_digests(data, week, NOW, ZONE)
        )
    for _ in range(args.repeats):
        for scale in scales:
            seconds[scale].append(
                _timed(lambda data=datasets[scale]: build_digests(data, week, NOW, ZONE))[0]
            )
    return [
        Run(
            scale,
            sizes[scale],
            seconds[scale],
            first[scale],
            memory_in_fresh_process(datasets[scale]),
            _frames_mb(datasets[scale]),
            generated[scale],
            _summary(digests[scale], datasets[scale]),
        )
        for scale in scales
    ]


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _summary(digests: dict[int, Any], data: DigestData) -> str:
    """What the timed digests found, so a fast run is seen to have done the work."""
    moved = sum(sum(d.movements.values()) for d in digests.values())
    concluded = sum(sum(d.concluded.values()) for d in digests.values())
    return (
        f"{len(digests)} digests ({sum(d.empty for d in digests.values())} empty):"
        f" {moved:,} movements ({concluded:,} conclusions),"
        f" {sum(len(d.pending_reviews) for d in digests.values()):,} pending reviews,"
        f" {sum(len(d.stale) for d in digests.values()):,} stale experiments,"
        f" {sum(d.best_movement is not None for d in digests.values())} best movements;"
        f" data {len(data.experiments):,} experiments, {len(data.events):,} events,"
        f" {len(data.evaluations):,} evaluations"
    )


# --- report -------------------------------------------------------------------------------


def report(runs: list[Run]) -> str:
    """The runs, then our figures beside SPEC §10's targets in one table."""
    lines = [
        f"{'scale':>5} {'projects':>8} {'experiments':>11} {'events':>10} {'median s':>8}"
        f" {'min s':>6} {'first s':>7} {'frames':>7} {'loaded':>7} {'peak RSS':>8}"
        f" {'traced':>7} {'generate':>8}"
    ]
    for r in runs:
        lines.append(
            f"{r.scale:>4}x {r.sizes[0]:>8,} {r.sizes[1]:>11,} {r.sizes[2]:>10,}"
            f" {r.median:>8.3f} {min(r.seconds):>6.3f} {r.first:>7.3f} {_mb(r.data_mb):>7}"
            f" {_mb(r.memory.loaded_mb):>7} {_mb(r.memory.peak_mb):>8}"
            f" {_mb(r.memory.traced_mb):>7} {r.generate_s:>7.1f}s"
        )
        lines.append(f"      {r.summary}")
        m = r.memory
        lines.append(
            f"      memory, fresh process: {_mb(m.libraries_mb)} with the libraries,"
            f" {_mb(m.loaded_mb)} with the frames loaded, peak {_mb(m.peak_mb)} while"
            f" building the digests; their own allocations peak at {_mb(m.traced_mb)}"
        )
    base, notes = runs[0], []
    lines += ["", f"{'SPEC §10 target':<52} {'ours':>9} {'target':>9}  result"]
    lines.append(
        _row(
            f"digest of all {base.sizes[0]} projects, median",
            base.median,
            TIME_TARGET_S,
            "s",
            ".3f",
        )
    )
    if base.memory.peak_mb is not None:
        memory, what = base.memory.peak_mb, "peak RSS of a process building it, data included"
    else:
        memory, what = base.memory.traced_mb, "the digest's peak allocations (tracemalloc)"
    lines.append(_row(what, memory, MEMORY_TARGET_MB, "MB", ".0f"))
    for r in runs[1:]:
        growth = r.scale / base.scale
        # The best of each size, as benchmarks/evaluation.py does: at 0.1 s a median of a
        # few runs on a shared machine moves by tens of percent with other work.
        by_median = r.median / base.median
        notes.append(f"time at {growth:g}x / 1x by the medians instead: {by_median:.2f}x")
        lines.append(
            _row(
                f"time at {growth:g}x the data / time at 1x (fastest runs)",
                min(r.seconds) / min(base.seconds),
                growth * RATIO_TARGET / 2,
                "x",
                ".2f",
            )
        )
    return "\n".join(lines + notes)


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _row(what: str, ours: float, target: float, unit: str, style: str) -> str:
    verdict = "PASS" if ours <= target else "MISS"
    figure, limit = f"{ours:{style}} {unit}", f"<= {target:g} {unit}"
    return f"{what:<52} {figure:>9} {limit:>9}  {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.digest", description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--experiments", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per scale")
    parser.add_argument("--scale", default="1,2", help="sizes to run, as multiples: 1,2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # the memory child's input
    args = parser.parse_args(argv)
    if args.memory_of:
        return _measure_memory(args.memory_of)
    scales = [int(s) for s in args.scale.split(",") if s.strip()]
    if not scales or min(scales) < 1 or args.repeats < 1:
        parser.error("--scale takes positive integers (1,2) and --repeats at least 1")
    print(machine(), flush=True)
    print(f"week {NOW:%Y-%m-%d %H:%M} {ZONE.key}: digest of the week before, as the job sends it")
    print(report(measure(scales, args)))
    print(machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())

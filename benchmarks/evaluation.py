"""Evaluation speed: a full 1M-row metric summary against one roc_auc_score call and a bootstrap.

SPEC §10: 1M rows, candidate and baseline, all metrics with CIs and the paired test; within
5x of one ``sklearn.metrics.roc_auc_score`` call on the same data, and at least 100x faster
than a naive 1000-resample bootstrap of it. Run from the repository root::

    .venv/bin/python -m benchmarks.evaluation

Ours is one ``bot.domain.summary.summarize`` call, as ``submit_evaluation`` makes it: AUC
with its DeLong CI, DeLong's paired test, AP, log loss, Brier, accuracy and F1 with paired
CIs, the verdict, the criterion and the warnings. The naive bootstrap resamples rows with
replacement and calls ``roc_auc_score`` once per resample in a Python loop; by default only
``--naive-sample`` resamples are timed and the time is extrapolated to ``--resamples``
(``--full`` runs them all, about 5 minutes). Parsing the CSV, drawing the ROC chart and
packing the rows for storage are timed too, apart from the ratios. Peak memory is measured
in a fresh process. Figures never change the exit status.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.ack_latency import machine

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from bot.domain.evaluation import Predictions
    from bot.domain.model import SuccessCriterion
    from bot.domain.summary import Summary

    FloatArray = npt.NDArray[np.float64]

SLOWER_AT_MOST = 5.0  # summarize / one roc_auc_score call
FASTER_AT_LEAST = 100.0  # naive bootstrap / summarize
POSITIVE_RATE = 0.3
DECIMALS = 6  # scores as an exporter writes them: the CSV holds exactly these numbers
REPO = Path(__file__).resolve().parents[1]
OURS = "ours: summarize (all metrics, CIs, paired test)"
REFERENCE_1 = "reference 1: one sklearn roc_auc_score call"
REFERENCE_2 = "reference 2: naive bootstrap, 1 roc_auc_score per resample"


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """Labels, both models' scores on the same rows, and the rows' ids."""

    y: FloatArray
    candidate: FloatArray
    baseline: FloatArray
    ids: npt.NDArray[np.str_]

    def predictions(self) -> tuple[Predictions, Predictions]:
        from bot.domain.evaluation import Kind, Predictions

        kind = Kind.CLASSIFICATION
        return (
            Predictions(kind, self.y, self.candidate, self.ids),
            Predictions(kind, self.y, self.baseline, self.ids),
        )


def make_data(rows: int, seed: int) -> Data:
    """~30% positives; a logistic baseline (AUC ~0.76) and a stronger candidate (~0.84)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < POSITIVE_RATE).astype(np.float64)

    def probability(signal: float, offset: float) -> FloatArray:
        logit = rng.normal(size=rows) + signal * y - offset
        return np.round(1.0 / (1.0 + np.exp(-logit)), DECIMALS)

    baseline = probability(1.0, 0.9)
    candidate = probability(1.4, 1.0)
    ids = np.char.add("row-", np.char.zfill(np.arange(1, rows + 1).astype(np.str_), 7))
    return Data(y, candidate, baseline, ids)


def csv_bytes(data: Data) -> bytes:
    """The candidate as an upload: id, y_true, y_score."""
    import pandas as pd

    frame = pd.DataFrame(
        {"id": data.ids, "y_true": data.y.astype("int8"), "y_score": data.candidate}
    )
    text: str = frame.to_csv(index=False)
    return text.encode()


# --- timing -------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock seconds of each run, and the CPU seconds (all threads) when recorded."""

    seconds: list[float]
    cpu: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def criterion() -> SuccessCriterion:
    """The success criterion timed: AUC up by at least 0.01."""
    from bot.domain.model import Direction, SuccessCriterion

    return SuccessCriterion("auc", Direction.HIGHER, 0.01)


def ours_and_reference(data: Data, repeats: int) -> tuple[Timing, Timing, Summary, float]:
    """summarize and one roc_auc_score call, alternated so that both see the same load."""
    from sklearn.metrics import roc_auc_score

    from bot.domain.summary import summarize

    candidate, baseline = data.predictions()
    ours, reference = Timing([]), Timing([])
    summary: Summary | None = None
    auc = float("nan")
    for _ in range(repeats):
        for timing, run in (
            (ours, lambda: summarize(candidate, baseline, criterion(), seed=0)),
            (reference, lambda: roc_auc_score(data.y, data.candidate)),
        ):
            cpu = time.process_time()
            seconds, result = clock(run)
            timing.cpu.append(time.process_time() - cpu)
            timing.seconds.append(seconds)
            if timing is ours:
                summary = result
            else:
                auc = result
    assert summary is not None
    return ours, reference, summary, float(auc)


def naive_bootstrap(
    y: FloatArray, score: FloatArray, resamples: int, seed: int
) -> tuple[FloatArray, Timing]:
    """What one would write without thinking: a loop of resample-and-call, one AUC each.

    Returns the AUCs and the time of each resample (drawing, indexing and the call).
    """
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    rows = y.shape[0]
    aucs = np.empty(resamples)
    each = Timing([])
    for i in range(resamples):
        started = time.perf_counter()
        index = rng.integers(0, rows, rows)
        aucs[i] = roc_auc_score(y[index], score[index])
        each.seconds.append(time.perf_counter() - started)
    return aucs, each


def warm_up(seed: int) -> None:
    """Import and touch everything once on a small set, so no timed run pays for imports."""
    from sklearn.metrics import roc_auc_score

    from bot.domain.summary import summarize

    small = make_data(2000, seed + 1)
    candidate, baseline = small.predictions()
    summarize(candidate, baseline, criterion(), seed=0)
    roc_auc_score(small.y, small.candidate)


# --- peak memory, in a fresh process ------------------------------------------------------


def _status_mb(field: str) -> float | None:
    """A size from /proc/self/status (Linux), in MiB; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    """Resident set size now (Linux), else the peak so far."""
    now = _status_mb("VmRSS")
    return now if now is not None else _peak_rss_mb()


def _peak_rss_mb() -> float:
    """This process's peak resident set size.

    VmHWM where there is one: ``ru_maxrss`` is not used on Linux because execve carries the
    parent's peak over into it when the child was started by vfork, as subprocess does.
    """
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 2**10  # bytes there, KiB


def memory_child(folder: str) -> dict[str, float]:
    """In a fresh process: RSS before summarize, the peak during it, and tracemalloc's peak."""
    import tracemalloc

    import numpy as np

    from bot.domain.summary import summarize

    # Once on a few rows, so first-call set-up is not measured; few, so that this run's own
    # peak stays far below the one being measured.
    small = make_data(300, 1).predictions()
    summarize(*small, criterion(), seed=0)
    names = [column.name for column in fields(Data)]
    arrays = {name: np.load(Path(folder, f"{name}.npy")) for name in names}
    data = Data(**arrays)
    candidate, baseline = data.predictions()
    inputs = sum(a.nbytes for a in arrays.values()) / 2**20
    gc.collect()
    before, peak_before = _rss_mb(), _peak_rss_mb()
    summarize(candidate, baseline, criterion(), seed=0)
    peak = _peak_rss_mb()
    tracemalloc.start()
    summarize(candidate, baseline, criterion(), seed=0)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "inputs_mb": inputs,
        "rss_before_mb": before,
        "peak_before_mb": peak_before,
        "peak_mb": peak,
        "tracemalloc_mb": traced,
    }


def measure_memory(data: Data) -> dict[str, float]:
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="mlgov-bench-") as folder:
        for name in (column.name for column in fields(Data)):
            np.save(Path(folder, f"{name}.npy"), getattr(data, name))
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.evaluation", "--memory-child", folder],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the rest of an upload's path (not in the ratios) -------------------------------------


def extras(data: Data, repeats: int) -> list[tuple[str, Timing]]:
    """Parsing the CSV upload, drawing the ROC chart, packing the rows for storage."""
    import numpy as np

    from bot.charts import roc_chart
    from bot.domain.evaluation import Predictions
    from bot.domain.ingest import parse_evaluation
    from storage.evaluations import pack

    upload = csv_bytes(data)
    candidate, _ = data.predictions()
    parse, chart, store = Timing([]), Timing([]), Timing([])
    parsed: Any = None
    png = packed = b""
    for _ in range(repeats):
        seconds, parsed = clock(lambda: parse_evaluation(upload, filename="candidate.csv"))
        parse.seconds.append(seconds)
        seconds, png = clock(lambda: roc_chart(data.y, data.candidate, data.baseline))
        chart.seconds.append(seconds)
        seconds, packed = clock(lambda: pack(candidate))
        store.seconds.append(seconds)
    assert isinstance(parsed, Predictions)
    same = (
        np.array_equal(parsed.y_true, data.y)
        and np.array_equal(parsed.score, data.candidate)
        and parsed.ids is not None
        and np.array_equal(parsed.ids, data.ids)
    )
    if not same:  # the figures would be of other numbers than the summary's
        print("WARNING: the parsed CSV differs from the arrays it was written from")
    return [
        (f"parse the CSV upload ({len(upload) / 1e6:.1f} MB), parse_evaluation", parse),
        (f"ROC chart, roc_chart ({len(png) / 1e3:.0f} kB PNG)", chart),
        (f"pack for storage, storage.evaluations.pack ({len(packed) / 1e6:.1f} MB)", store),
    ]


# --- report -------------------------------------------------------------------------------


def _ci(interval: Any) -> str:
    return f"[{interval.low:.4f}, {interval.high:.4f}]" if interval is not None else "(none)"


def _p(value: float | None) -> str:
    if value is None:
        return "no p-value"
    return "p < 1e-300" if value == 0.0 else f"p = {value:.3g}"  # 0.0: it underflowed


def describe(summary: Summary, sklearn_auc: float) -> list[str]:
    """What the summary said, so a run shows the figures are of a real, right computation."""
    auc = summary.deltas["auc"]
    metrics = summary.metrics
    auc_value = metrics["auc"] if metrics["auc"] is not None else float("nan")
    shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if value is not None)
    return [
        f"our summary: {shown}",
        f"  AUC 95% CI {_ci(summary.auc_ci)} (DeLong); baseline AUC {auc.baseline:.4f};"
        f" ΔAUC {auc.delta:+.4f} {_ci(auc.ci)}, {_p(auc.p_value)};"
        f" verdict {summary.verdict}; criterion (+0.01 AUC) met: {summary.criterion_met}",
        "  paired CIs: "
        + ", ".join(f"{name} {d.method}" for name, d in summary.deltas.items() if d.ci)
        + f"; warnings: {'; '.join(summary.warnings) or 'none'}",
        f"  AUC against roc_auc_score on the same rows: |difference| ="
        f" {abs(auc_value - sklearn_auc):.1e}",
    ]


def report(
    args: argparse.Namespace,
    ours: Timing,
    reference: Timing,
    naive: Timing,
) -> list[str]:
    naive_done = len(naive.seconds)
    extrapolated = naive_done < args.resamples
    # Extrapolated from the median resample, so that a burst of other work on a shared
    # machine during a few of them does not move the figure.
    naive_total = naive.median * args.resamples if extrapolated else sum(naive.seconds)
    mark = "*" if extrapolated else ""
    lines = [
        f"{'timings, seconds':<58} {'best':>8} {'median':>8}",
        f"{OURS:<58} {ours.best:>8.3f} {ours.median:>8.3f}",
        f"{REFERENCE_1:<58} {reference.best:>8.3f} {reference.median:>8.3f}",
        f"{REFERENCE_2:<58} {naive_total:>8.1f}{mark:<1} "
        f"{'(' + str(args.resamples) + ' resamples)':>8}",
        "",
        f"{'target':<46} {'ours s':>8} {'ref s':>9} {'ratio':>13} {'target':>9}  result",
    ]
    slower = ours.best / reference.best
    faster = naive_total / ours.best
    rows = [
        ("(1) summarize vs one roc_auc_score call", reference.best, f"{slower:.2f}x slower",
         f"<= {SLOWER_AT_MOST:g}x", slower <= SLOWER_AT_MOST),
        (f"(2) summarize vs naive {args.resamples}-resample bootstrap", naive_total,
         f"{faster:.0f}x faster", f">= {FASTER_AT_LEAST:g}x", faster >= FASTER_AT_LEAST),
    ]  # fmt: skip
    for (name, ref, ratio, target, met), star in zip(rows, ("", mark), strict=True):
        ref_text = (f"{ref:.3f}" if ref < 10 else f"{ref:.1f}") + star
        lines.append(
            f"{name:<46} {ours.best:>8.3f} {ref_text:>9} {ratio:>13} {target:>9}  "
            + ("PASS" if met else "MISS  <-- target not met")
        )
    lines.append(
        "(ratios from the best of each; summarize and roc_auc_score alternated; CPU per wall"
        f" second: summarize {sum(ours.cpu) / sum(ours.seconds):.2f},"
        f" roc_auc_score {sum(reference.cpu) / sum(reference.seconds):.2f})"
    )
    if extrapolated:
        lines.append(
            f"* EXTRAPOLATED: {naive_done} of {args.resamples} naive resamples were timed"
            f" (median {naive.median:.3f} s each, {min(naive.seconds):.3f}"
            f"–{max(naive.seconds):.3f} s), and the median multiplied by {args.resamples};"
            f" --full runs all {args.resamples}."
        )
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.evaluation", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--rows", type=int, default=1_000_000, help="rows of the held-out set (1000000)")
    add("--resamples", type=int, default=1000, help="resamples of the naive bootstrap (1000)")
    add(
        "--naive-sample",
        type=int,
        default=20,
        help="naive resamples actually timed, then extrapolated to --resamples (20)",
    )
    add("--full", action="store_true", help="time every naive resample (~5 min at 1M rows)")
    add("--repeats", type=int, default=3, help="runs of each timed step; best is used (3)")
    add("--seed", type=int, default=0, help="seed of the synthetic data (0)")
    add("--memory-child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is None:
        if args.rows < 1000:
            parser.error("--rows must be at least 1000")
        for name in ("resamples", "naive_sample", "repeats"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure and print; always 0 (a figure that misses its target says MISS)."""
    args = parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    started = time.monotonic()
    print(machine(), flush=True)
    data = make_data(args.rows, args.seed)
    positives = int(data.y.sum())
    print(
        f"evaluation: {args.rows:,} rows, {positives / args.rows:.1%} positive (seed"
        f" {args.seed}), ids like {str(data.ids[0])!r}, scores with {DECIMALS} decimals;"
        f" best of {args.repeats} run(s)",
        flush=True,
    )
    warm_up(args.seed)
    ours, reference, summary, sklearn_auc = ours_and_reference(data, args.repeats)
    naive_done = args.resamples if args.full else min(args.naive_sample, args.resamples)
    sys.stdout.flush()
    print(f"timing {naive_done} naive resample(s)...", file=sys.stderr, flush=True)
    aucs, naive = naive_bootstrap(data.y, data.candidate, naive_done, args.seed)
    print(*describe(summary, sklearn_auc), sep="\n")
    if naive_done >= 100:
        import numpy as np

        low, high = np.percentile(aucs, [2.5, 97.5])
        print(f"  naive bootstrap's 95% percentile CI of the AUC: [{low:.4f}, {high:.4f}]")
    print()
    print(*report(args, ours, reference, naive), sep="\n")
    print()
    steps = extras(data, args.repeats)
    print(f"{'not in the ratios: the rest of an upload, seconds':<58} {'best':>8} {'median':>8}")
    for name, timing in steps:
        print(f"{name:<58} {timing.best:>8.3f} {timing.median:>8.3f}")
    path = ours.best + sum(timing.best for _, timing in steps)
    print(f"{'upload path in all: parse + summarize + chart + pack':<58} {path:>8.3f}")
    print()
    memory = measure_memory(data)
    grew = memory["peak_mb"] - memory["rss_before_mb"]
    print(
        f"memory of summarize, in a fresh process: peak RSS {memory['peak_mb']:.0f} MiB,"
        f" {grew:+.0f} MiB over the {memory['rss_before_mb']:.0f} MiB held before it (inputs"
        f" {memory['inputs_mb']:.0f} MiB); tracemalloc peak {memory['tracemalloc_mb']:.0f} MiB"
    )
    if memory["peak_before_mb"] >= memory["peak_mb"]:
        print("  (the process's earlier peak was higher: summarize's own peak is below it)")
    print(f"after {time.monotonic() - started:.0f} s, " + machine().replace("machine: ", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

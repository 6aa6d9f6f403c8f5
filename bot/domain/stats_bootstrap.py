"""Seeded, vectorised paired bootstrap CIs for ΔAP and ΔF1 (no Python loop over resamples).

Average precision and F1 are not means of per-row terms, so their paired intervals come
from resampling rows — the same rows for both models, which keeps the pairing. The
interval is the percentile interval of the resampled deltas; resamples where a metric is
undefined (no positive drawn, or F1's 0/0) are dropped.

Which bootstrap is used:

- **Plain** (n <= ``PLAIN_MAX_ROWS``): ``resamples`` rows of indices drawn as
  ``np.random.default_rng(seed).integers(0, n, size=(resamples, n))`` — in chunks of rows,
  which consumes the generator exactly as one call would — turned into per-row counts, and
  both metrics evaluated for all resamples of a chunk as matrix operations. Identical to a
  plain loop that evaluates each resample with scikit-learn.
- **Large n**: a ``resamples`` × n weight matrix does not fit (1000 × 1M), so
  - F1 is drawn exactly: a resample is characterised by how many rows fall in each of the 8
    joint cells (label, candidate's call, baseline's call), and the counts of a row
    bootstrap are Multinomial(n, cell shares) — one (resamples × 8) draw, an exact row
    bootstrap at any size;
  - AP uses the Bag of Little Bootstraps (Kleiner, Talwalkar, Sarkar & Jordan 2014):
    ``BLB_SUBSETS`` subsets of b = max(n^0.6, ``BLB_MIN_SUBSET``) distinct rows; over each,
    ``BLB_RESAMPLES`` Multinomial(n, 1/b) weight vectors (each a resample of size n), the
    percentile interval of the weighted ΔAP; the bounds averaged over subsets.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Bounds = tuple[float, float]

PLAIN_MAX_ROWS = 5_000
BLB_SUBSETS = 10
BLB_RESAMPLES = 100
BLB_GAMMA = 0.6
BLB_MIN_SUBSET = 2_000
# Keep a chunk of the plain bootstrap to about this many matrix entries (~32 MB each).
CHUNK_ENTRIES = 4_000_000


def percentile_bounds(deltas: FloatArray, alpha: float) -> Bounds | None:
    """The (alpha/2, 1 − alpha/2) percentiles of the finite deltas (numpy's linear rule)."""
    finite = deltas[np.isfinite(deltas)]
    # Too many undefined resamples means the data cannot support an interval.
    if finite.shape[0] < max(2, deltas.shape[0] // 2):
        return None
    low, high = np.percentile(finite, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def weighted_ap(labels: FloatArray, scores: FloatArray, weights: FloatArray) -> FloatArray:
    """Average precision of each row of ``weights`` (r × n): the AP of a data set holding
    row i ``weights[:, i]`` times. ``labels``/``scores`` must be sorted by descending score.

    Tied scores form one threshold, as in scikit-learn; NaN where the weights hold no positive.
    """
    n = scores.shape[0]
    last = np.empty(n, dtype=bool)
    last[-1:] = True
    np.not_equal(scores[1:], scores[:-1], out=last[:-1])
    tp = np.cumsum(weights * labels, axis=1)
    called = np.cumsum(weights, axis=1)
    if not last.all():  # ties: one threshold per run of equal scores
        ends = np.flatnonzero(last)
        tp, called = tp[:, ends], called[:, ends]
    gained = np.diff(tp, axis=1, prepend=0.0)
    # Only thresholds that gain a positive count, and those have called > 0.
    called[called == 0.0] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.einsum("ij,ij->i", gained, tp / called) / tp[:, -1]
    return out


def _cells(y_true: FloatArray, candidate: FloatArray, baseline: FloatArray) -> IntArray:
    """Each row's joint cell 4·label + 2·(candidate >= 0.5) + (baseline >= 0.5), in 0..7."""
    code: IntArray = 4 * (y_true == 1.0).astype(np.intp)
    code += 2 * (candidate >= 0.5).astype(np.intp)
    code += (baseline >= 0.5).astype(np.intp)
    return code


def f1_deltas(counts: FloatArray) -> FloatArray:
    """ΔF1 (candidate − baseline) for each row of joint-cell counts (r × 8)."""
    c = counts
    tp_c, fp_c, fn_c = c[:, 6] + c[:, 7], c[:, 2] + c[:, 3], c[:, 4] + c[:, 5]
    tp_b, fp_b, fn_b = c[:, 5] + c[:, 7], c[:, 1] + c[:, 3], c[:, 4] + c[:, 6]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_c = 2.0 * tp_c / (2.0 * tp_c + fp_c + fn_c)
        f1_b = 2.0 * tp_b / (2.0 * tp_b + fp_b + fn_b)
    out: FloatArray = f1_c - f1_b
    return out


def plain_paired_bootstrap(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    orders: tuple[IntArray, IntArray],
    *,
    f1: bool,
    rng: np.random.Generator,
    resamples: int,
) -> tuple[FloatArray, FloatArray | None]:
    """The resampled ΔAP (and ΔF1) of a plain paired row bootstrap, chunk by chunk."""
    n = y_true.shape[0]
    cells = _cells(y_true, candidate, baseline) if f1 else None
    sorted_c = (y_true[orders[0]], candidate[orders[0]])
    sorted_b = (y_true[orders[1]], baseline[orders[1]])
    chunk = max(1, CHUNK_ENTRIES // max(n, 1))
    ap_parts: list[FloatArray] = []
    f1_parts: list[FloatArray] = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        offsets = (np.arange(size, dtype=np.intp) * n)[:, None]
        counts = np.bincount((idx + offsets).ravel(), minlength=size * n).reshape(size, n)
        weights = counts.astype(np.float64)
        ap_c = weighted_ap(*sorted_c, weights[:, orders[0]])
        ap_b = weighted_ap(*sorted_b, weights[:, orders[1]])
        ap_parts.append(ap_c - ap_b)
        if cells is not None:
            cell_offsets = (np.arange(size, dtype=np.intp) * 8)[:, None]
            by_cell = np.bincount((cells[idx] + cell_offsets).ravel(), minlength=size * 8)
            f1_parts.append(f1_deltas(by_cell.reshape(size, 8).astype(np.float64)))
    return np.concatenate(ap_parts), (np.concatenate(f1_parts) if f1_parts else None)


def multinomial_f1_deltas(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    rng: np.random.Generator,
    resamples: int,
) -> FloatArray:
    """ΔF1 of an exact row bootstrap drawn as Multinomial(n, joint-cell shares) counts."""
    n = y_true.shape[0]
    shares = np.bincount(_cells(y_true, candidate, baseline), minlength=8) / n
    counts = rng.multinomial(n, shares, size=resamples).astype(np.float64)
    return f1_deltas(counts)


def blb_ap_bounds(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    center: float,
    rng: np.random.Generator,
    alpha: float,
    subsets: int = BLB_SUBSETS,
    per_subset: int = BLB_RESAMPLES,
) -> Bounds | None:
    """The Bag of Little Bootstraps percentile interval of ΔAP around ``center`` (the
    full-data ΔAP).

    Each subset's resampled deltas scatter around that subset's own ΔAP, which is itself
    off the full-data ΔAP by a subset-sized error; so each subset gives the percentiles of
    (resampled − subset) ΔAP, these are averaged over subsets and added to ``center`` —
    the form of the plain percentile interval, [θ̂ + q_low(θ* − θ̂), θ̂ + q_high(θ* − θ̂)].
    """
    n = y_true.shape[0]
    b = min(n, max(int(n**BLB_GAMMA), BLB_MIN_SUBSET))
    lows: list[float] = []
    highs: list[float] = []
    for _ in range(subsets):
        rows = rng.choice(n, size=b, replace=False)
        y, c, s = y_true[rows], candidate[rows], baseline[rows]
        weights = rng.multinomial(n, np.full(b, 1.0 / b), size=per_subset).astype(np.float64)
        oc, ob = np.argsort(-c), np.argsort(-s)
        # Row 0 weighs every subset row once: the subset's own ΔAP.
        weights = np.vstack([np.ones(b), weights])
        deltas = weighted_ap(y[oc], c[oc], weights[:, oc]) - weighted_ap(
            y[ob], s[ob], weights[:, ob]
        )
        bounds = percentile_bounds(deltas[1:] - deltas[0], alpha)
        if bounds is not None:
            lows.append(bounds[0])
            highs.append(bounds[1])
    if len(lows) < max(1, subsets // 2):
        return None
    return center + float(np.mean(lows)), center + float(np.mean(highs))


def paired_bootstrap(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    orders: tuple[IntArray, IntArray],
    ap_delta: float | None,
    f1: bool,
    seed: int,
    resamples: int,
    alpha: float,
) -> tuple[Bounds | None, Bounds | None]:
    """Percentile CIs of ΔAP and ΔF1 (None when undefined or F1 is not asked for).

    ``orders`` sort each model's scores descending (any order among ties); ``ap_delta`` is
    the full-data ΔAP (None when AP is undefined: no positive).
    """
    rng = np.random.default_rng(seed)
    n = y_true.shape[0]
    if n < 2 or resamples < 2:
        return None, None
    if n <= PLAIN_MAX_ROWS:
        ap, f1_d = plain_paired_bootstrap(
            y_true, candidate, baseline, orders, f1=f1, rng=rng, resamples=resamples
        )
        f1_bounds = percentile_bounds(f1_d, alpha) if f1_d is not None else None
        return percentile_bounds(ap, alpha), f1_bounds
    f1_bounds = None
    if f1:
        f1_d = multinomial_f1_deltas(y_true, candidate, baseline, rng=rng, resamples=resamples)
        f1_bounds = percentile_bounds(f1_d, alpha)
    ap_bounds = None
    if ap_delta is not None:
        ap_bounds = blb_ap_bounds(
            y_true, candidate, baseline, center=ap_delta, rng=rng, alpha=alpha
        )
    return ap_bounds, f1_bounds

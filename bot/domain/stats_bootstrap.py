"""Seeded, vectorised, stratified paired bootstrap CIs for ΔAP and ΔF1 (no Python loop over
resamples).

Average precision and F1 are not means of per-row terms, so their paired intervals come
from resampling rows — the same rows for both models, which keeps the pairing. Resampling
is stratified by class, as pROC's bootstrap is by default (``stratified = TRUE``): a
resample draws n_pos rows from the positives and n_neg from the negatives, with
replacement, so it keeps the evaluation set's class counts. Both metrics move with the
class balance, and with rare positives an unstratified resample's positive count varies
widely (or is 0); the held-out labels are given, so the interval conditions on them. The
interval is the percentile interval of the resampled deltas; resamples where a metric is
undefined (F1's 0/0) are dropped. Rows are drawn from lists in an order fixed by the data
(by descending candidate, then baseline, score; :func:`strata`), never the upload's row
order: the same evaluation with its rows shuffled gets the identical interval.

Which bootstrap is used:

- **Plain** (n <= ``PLAIN_MAX_ROWS``): with ``rng = np.random.default_rng(seed)``,
  ``rng.integers(0, n_pos, size=(resamples, n_pos))`` then
  ``rng.integers(0, n_neg, size=(resamples, n_neg))`` index the positive and the negative
  rows (each in the order of :func:`strata`); resample i is row i of both. Counted per
  row and evaluated a chunk of resamples at a time as matrix operations: identical to a
  plain loop that evaluates each resample with scikit-learn.
- **Large n**: a ``resamples`` × n weight matrix does not fit (1000 × 1M), so
  - F1 is drawn exactly: a resample is characterised by how many rows fall in each of the 8
    joint cells (label, candidate's call, baseline's call), and within a class the counts
    are Multinomial(class size, the class's cell shares) — an exact stratified bootstrap;
  - AP uses a stratified Bag of Little Bootstraps (Kleiner, Talwalkar, Sarkar & Jordan
    2014) anchored on the full data's counts. Each of ``BLB_SUBSETS`` subsets holds
    b = min(n_k, max(n_k^0.6, ``BLB_MIN_CLASS_ROWS``)) distinct rows of each class k — all
    the positives when they are few — and ``BLB_RESAMPLES`` resamples weight its
    positives Multinomial(n_pos, 1/b_pos) and its negatives Multinomial(n_neg, 1/b_neg).
    AP is the mean over positives of the precision at their scores, and a top positive's
    precision hangs on the few negatives (out of n_neg) that outscore it. A subset that
    counts those negatives itself, each of its rows standing for n/b, gets every
    positive's precision wrong by a random amount, and that noise, not resampling, sets
    the interval: the unstratified BLB with ~n^0.6 rows (a handful of positives each)
    gave ΔAP intervals 0.5–2 times the plain bootstrap's width with 150–300 positives.
    So at each subset positive's score the counts of positives and negatives scoring at
    least as high are the full data's (exact, from the sort) plus the subset's resampled
    counts minus their expected values, clipped to possible counts (≥ 1 positive, ≥ 0
    negatives): the subset supplies only the counts' bootstrap fluctuation. With the
    whole data as the subset this is exactly the plain stratified bootstrap. A subset's
    own ΔAP is its positives' mean precision at the full counts; its interval is the
    percentiles of (resampled − own) ΔAP, by ``SUBSET_PERCENTILES``; the bounds are
    averaged over subsets and added to the full-data ΔAP. Against a plain stratified
    bootstrap of 1000–4000 resamples the width ratio averaged 0.97–1.04 over seeds (single
    runs 0.91–1.10), from 150 positives in 50k rows to 300k positives in 1M.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Bounds = tuple[float, float]
PercentileRule = Literal["linear", "normal_unbiased"]

PLAIN_MAX_ROWS = 5_000
BLB_SUBSETS = 10
BLB_RESAMPLES = 100
BLB_GAMMA = 0.6
BLB_MIN_CLASS_ROWS = 2_000
# numpy's default (linear) percentiles of 100 values put the 2.5% point between the 3rd and
# 4th smallest, about 4% too far in for a normal; this rule is unbiased for one.
SUBSET_PERCENTILES: PercentileRule = "normal_unbiased"
# Draw multinomial counts by counting uniform integers up to this many draws per cell.
BINCOUNT_FACTOR = 8
# Keep a chunk of the plain bootstrap to about this many matrix entries (~32 MB each).
CHUNK_ENTRIES = 4_000_000


def percentile_bounds(
    deltas: FloatArray, alpha: float, method: PercentileRule = "linear"
) -> Bounds | None:
    """The (alpha/2, 1 − alpha/2) percentiles of the finite deltas (numpy's ``method``)."""
    finite = deltas[np.isfinite(deltas)]
    # Too many undefined resamples means the data cannot support an interval.
    if finite.shape[0] < max(2, deltas.shape[0] // 2):
        return None
    q = [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)]
    low, high = np.percentile(finite, q, method=method)
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


def _dense_ranks(scores: FloatArray, order: IntArray) -> tuple[IntArray, int]:
    """Each row's rank among the distinct scores, in ``order`` (ties share one), and how
    many distinct scores there are."""
    ordered = scores[order]
    step = np.empty(ordered.shape[0], dtype=np.int64)
    step[:1] = 0
    np.not_equal(ordered[1:], ordered[:-1], out=step[1:])
    ranks = np.empty_like(step)
    ranks[order] = np.cumsum(step)
    return ranks, int(step.sum()) + 1


def strata(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    orders: tuple[IntArray, IntArray],
) -> tuple[IntArray, IntArray]:
    """The positive rows and the negative rows, each by descending candidate score, then
    descending baseline score: an order fixed by the data, not by the rows' order.

    Resamples index these lists, so the rows' order in the upload must not enter them:
    permuting the rows of an evaluation gives the same interval. Rows equal in label and
    both scores are interchangeable, so their order among themselves does not matter. The
    key comes from the sorts already made (``orders``), and one integer sort.
    """
    rank_c, _ = _dense_ranks(candidate, orders[0])
    rank_b, distinct_b = _dense_ranks(baseline, orders[1])
    key = rank_c * distinct_b + rank_b
    positive = y_true == 1.0
    positives, negatives = np.flatnonzero(positive), np.flatnonzero(~positive)
    return positives[np.argsort(key[positives])], negatives[np.argsort(key[negatives])]


def stratified_draws(
    rows: tuple[IntArray, IntArray], rng: np.random.Generator, resamples: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The positive rows, the negative rows (:func:`strata`), and each resample's
    positions in them (resamples × n_pos, then resamples × n_neg: drawn in that order)."""
    positives, negatives = rows
    pos = rng.integers(0, positives.shape[0], size=(resamples, positives.shape[0]))
    neg = rng.integers(0, negatives.shape[0], size=(resamples, negatives.shape[0]))
    return positives, negatives, pos, neg


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
    """The resampled ΔAP (and ΔF1) of a plain stratified paired bootstrap, chunk by chunk."""
    n = y_true.shape[0]
    cells = _cells(y_true, candidate, baseline) if f1 else None
    sorted_c = (y_true[orders[0]], candidate[orders[0]])
    sorted_b = (y_true[orders[1]], baseline[orders[1]])
    rows = strata(y_true, candidate, baseline, orders)
    positives, negatives, pos, neg = stratified_draws(rows, rng, resamples)
    chunk = max(1, CHUNK_ENTRIES // max(n, 1))
    ap_parts: list[FloatArray] = []
    f1_parts: list[FloatArray] = []
    for start in range(0, resamples, chunk):
        idx = np.hstack(
            [positives[pos[start : start + chunk]], negatives[neg[start : start + chunk]]]
        )
        size = idx.shape[0]
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
    """ΔF1 of an exact stratified row bootstrap: each class's joint-cell counts drawn as
    Multinomial(class size, the class's cell shares)."""
    by_cell = np.bincount(_cells(y_true, candidate, baseline), minlength=8).astype(np.float64)
    counts = np.empty((resamples, 8))
    for cells in (slice(0, 4), slice(4, 8)):  # the negatives' cells, then the positives'
        rows = by_cell[cells].sum()
        shares = by_cell[cells] / rows if rows > 0 else np.full(4, 0.25)
        counts[:, cells] = rng.multinomial(int(rows), shares, size=resamples)
    return f1_deltas(counts)


def uniform_multinomial(rng: np.random.Generator, total: int, cells: int, size: int) -> FloatArray:
    """``size`` draws of Multinomial(total, 1/cells each) counts, as floats (size × cells).

    With few draws per cell, counting ``total`` uniform integers is faster than numpy's
    sequential binomials; both are exact.
    """
    if total <= BINCOUNT_FACTOR * cells:
        idx = rng.integers(0, cells, size=(size, total))
        offsets = (np.arange(size, dtype=np.intp) * cells)[:, None]
        flat = np.bincount((idx + offsets).ravel(), minlength=size * cells)
        return flat.reshape(size, cells).astype(np.float64)
    out: FloatArray = rng.multinomial(total, np.full(cells, 1.0 / cells), size=size).astype(
        np.float64
    )
    return out


def subset_size(rows: int) -> int:
    """A class's BLB subset size: max(rows^γ, ``BLB_MIN_CLASS_ROWS``), or all its rows."""
    return min(rows, max(int(rows**BLB_GAMMA), BLB_MIN_CLASS_ROWS))


def class_keys(
    y_true: FloatArray, scores: FloatArray, order: IntArray
) -> tuple[FloatArray, FloatArray]:
    """The positives' and the negatives' negated scores, ascending (``order`` sorts
    ``scores`` descending): ``searchsorted(keys, -t, "right")`` counts a class's rows
    scoring at least t."""
    keys = -scores[order]
    positive = y_true[order] == 1.0
    return keys[positive], keys[~positive]


def subset_ap(
    subset: tuple[FloatArray, FloatArray],
    full: tuple[FloatArray, FloatArray],
    weights: tuple[FloatArray, FloatArray],
    bases: tuple[float, float],
) -> tuple[FloatArray, float]:
    """One model's resampled AP over a BLB subset, and the subset's own value.

    ``subset`` holds the subset positives' and negatives' scores, ``full`` every
    positive's and negative's :func:`class_keys`, ``weights`` the subset's resample weights
    (r × subset positives, r × subset negatives), whose expected values are ``bases``. At
    each subset positive's score, a class's count is its full-data count plus the subset's
    resampled count minus its expected value, clipped to a possible count; the AP is the
    mean of the precisions there, weighted by the positives' resample weights.
    """
    (pos_scores, neg_scores), (pos_w, neg_w) = subset, weights
    op = np.argsort(-pos_scores, kind="stable")
    sp = pos_scores[op]
    last = np.empty(sp.shape[0], dtype=bool)
    last[-1:] = True
    np.not_equal(sp[1:], sp[:-1], out=last[:-1])
    ends = np.flatnonzero(last)  # one threshold per run of tied positive scores
    keys = -sp[ends]
    tp0 = np.searchsorted(full[0], keys, side="right").astype(np.float64)
    fp0 = np.searchsorted(full[1], keys, side="right").astype(np.float64)
    pos_cum = np.cumsum(pos_w[:, op], axis=1)[:, ends]
    gained = np.diff(pos_cum, axis=1, prepend=0.0)
    # A threshold at a positive's score holds at least that positive.
    tp = np.maximum(tp0 + pos_cum - (ends + 1) * bases[0], 1.0)
    on = np.argsort(-neg_scores, kind="stable")
    neg_cum = np.zeros((neg_w.shape[0], on.shape[0] + 1))
    np.cumsum(neg_w[:, on] - bases[1], axis=1, out=neg_cum[:, 1:])
    above = np.searchsorted(-neg_scores[on], keys, side="right")
    fp = np.maximum(fp0 + neg_cum[:, above], 0.0)
    ap: FloatArray = np.einsum("ij,ij->i", gained, tp / (tp + fp)) / pos_cum[:, -1]
    own = float(np.diff(ends, prepend=-1) @ (tp0 / (tp0 + fp0))) / sp.shape[0]
    return ap, own


def blb_ap_bounds(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    orders: tuple[IntArray, IntArray],
    center: float,
    rng: np.random.Generator,
    alpha: float,
    subsets: int = BLB_SUBSETS,
    per_subset: int = BLB_RESAMPLES,
) -> Bounds | None:
    """The stratified Bag of Little Bootstraps percentile interval of ΔAP around ``center``
    (the full-data ΔAP); see the module docstring.

    Each subset's resampled deltas scatter around that subset's own ΔAP; so each subset
    gives the percentiles of (resampled − subset) ΔAP, these are averaged over subsets and
    added to ``center`` — the form of the plain percentile interval,
    [θ̂ + q_low(θ* − θ̂), θ̂ + q_high(θ* − θ̂)].
    """
    positives, negatives = strata(y_true, candidate, baseline, orders)
    n_pos, n_neg = positives.shape[0], negatives.shape[0]
    b_pos, b_neg = subset_size(n_pos), subset_size(n_neg)
    bases = (n_pos / b_pos, n_neg / b_neg if b_neg else 1.0)
    keys = (class_keys(y_true, candidate, orders[0]), class_keys(y_true, baseline, orders[1]))
    lows: list[float] = []
    highs: list[float] = []
    for _ in range(subsets):
        pos = positives if b_pos == n_pos else rng.choice(positives, size=b_pos, replace=False)
        neg = negatives if b_neg == n_neg else rng.choice(negatives, size=b_neg, replace=False)
        weights = (
            uniform_multinomial(rng, n_pos, b_pos, per_subset),
            uniform_multinomial(rng, n_neg, b_neg, per_subset),
        )
        ap_c, own_c = subset_ap((candidate[pos], candidate[neg]), keys[0], weights, bases)
        ap_b, own_b = subset_ap((baseline[pos], baseline[neg]), keys[1], weights, bases)
        bounds = percentile_bounds(ap_c - ap_b - (own_c - own_b), alpha, SUBSET_PERCENTILES)
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
            y_true, candidate, baseline, orders=orders, center=ap_delta, rng=rng, alpha=alpha
        )
    return ap_bounds, f1_bounds

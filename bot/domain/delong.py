"""Ranking scores once (ties grouped), AUC from the ranks, and DeLong's variance of AUCs.

DeLong, DeLong & Clarke-Pearson (1988) with the O(n log n) structural components of Sun &
Xu (2014): one AUC with its normal CI (:func:`delong_auc`), the covariance matrix of several
models' AUCs on the same rows (:func:`delong_covariance`) and the paired test of ΔAUC
(:func:`delong_paired`). Arrays are 1-d float64; ``y_true`` holds 0.0/1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.domain.intervals import Delta, Interval, _normal_delta, z_quantile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class AucResult:
    """AUC-ROC with DeLong's variance; variance and CI are None with < 2 positives or negatives."""

    auc: float
    variance: float | None
    ci: Interval | None


@dataclass(frozen=True, eq=False)
class Ranking:
    """One model's scores sorted ascending and grouped into runs of tied scores.

    ``pos``/``neg`` count the positives/negatives of each tie group; everything rank-based
    (mid-ranks, AUC, DeLong's placements, average precision) follows from these counts.
    """

    order: IntArray  # argsort of the scores, ascending
    group: IntArray  # the tie group of each sorted position
    positive: npt.NDArray[np.bool_]  # the label of each sorted position
    pos: FloatArray
    neg: FloatArray

    @property
    def positives(self) -> int:
        return int(self.pos.sum())

    @property
    def negatives(self) -> int:
        return int(self.neg.sum())


def rank(y_true: FloatArray, score: FloatArray) -> Ranking:
    """Sort once and group ties: the O(n log n) step every rank metric shares."""
    n = score.shape[0]
    order = np.argsort(score)
    ordered = score[order]
    starts_mask = np.empty(n, dtype=bool)
    starts_mask[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_mask[1:])
    starts = np.flatnonzero(starts_mask)
    group = np.cumsum(starts_mask, dtype=np.intp) - 1
    labels = y_true[order]
    pos = np.add.reduceat(labels, starts) if n else np.zeros(0)
    size = np.diff(np.append(starts, n)).astype(np.float64)
    return Ranking(order, group, labels == 1.0, pos.astype(np.float64), size - pos)


def _auc(r: Ranking) -> float:
    """Mann-Whitney AUC from tie groups, in exact integer arithmetic (ties count 1/2)."""
    pos = r.pos.astype(np.int64)
    neg = r.neg.astype(np.int64)
    neg_below = np.cumsum(neg) - neg
    twice_u = int(np.dot(pos, 2 * neg_below + neg))
    return twice_u / (2.0 * r.positives * r.negatives)


def _placements(r: Ranking) -> FloatArray:
    """Per-row placement values of Sun & Xu (2014) / DeLong's V10 and V01.

    A positive's value is the share of negatives it outranks (ties count 1/2) — its mid-rank
    among all rows minus its mid-rank among the positives, over n; a negative's value is the
    share of positives it is outranked by. Mid-ranks come from the tie groups.
    """
    m, n = r.positives, r.negatives
    neg_below = np.cumsum(r.neg) - r.neg
    pos_above = m - np.cumsum(r.pos)
    v10 = (neg_below + r.neg / 2.0) / n
    v01 = (pos_above + r.pos / 2.0) / m
    # One gather from [v01 | v10] instead of two gathers and a select.
    table = np.concatenate([v01, v10])
    values = table[r.group + r.positive * v01.shape[0]]
    out: FloatArray = np.empty_like(values)
    out[r.order] = values
    return out


def delong_covariance(y_true: FloatArray, rankings: list[Ranking]) -> tuple[FloatArray, FloatArray]:
    """AUCs of k models on the same rows and DeLong's k×k covariance matrix of them.

    S = S10/m + S01/n, where S10 (S01) is the sample covariance (ddof 1) of the positives'
    (negatives') placement values across models. Needs >= 2 positives and >= 2 negatives.
    """
    positive = y_true == 1.0
    m = int(positive.sum())
    n = y_true.shape[0] - m
    if m < 2 or n < 2:
        raise ValueError("DeLong's variance needs at least 2 positives and 2 negatives")
    aucs = np.array([_auc(r) for r in rankings])
    placements = np.vstack([_placements(r) for r in rankings])
    s10 = np.atleast_2d(np.cov(placements[:, positive], ddof=1))
    s01 = np.atleast_2d(np.cov(placements[:, ~positive], ddof=1))
    return aucs, s10 / m + s01 / n


def delong_auc(y_true: FloatArray, score: FloatArray, alpha: float = 0.05) -> AucResult:
    """AUC-ROC with DeLong's variance and the (1 − alpha) normal CI auc ± z·sd.

    The CI is the plain normal interval, clipped to [0, 1] — the same as pROC's default
    ``ci.auc(method = "delong")``. Raises ValueError if a class is missing entirely.
    """
    r = rank(y_true, score)
    if r.positives == 0 or r.negatives == 0:
        raise ValueError("AUC needs both classes")
    auc = _auc(r)
    if r.positives < 2 or r.negatives < 2:
        return AucResult(auc, None, None)
    _, cov = delong_covariance(y_true, [r])
    return _with_interval(auc, float(cov[0, 0]), alpha)


def _with_interval(auc: float, variance: float, alpha: float) -> AucResult:
    variance = max(variance, 0.0)
    half = z_quantile(alpha) * math.sqrt(variance)
    return AucResult(auc, variance, Interval(max(auc - half, 0.0), min(auc + half, 1.0)))


def delong_paired(
    y_true: FloatArray, candidate: FloatArray, baseline: FloatArray, alpha: float = 0.05
) -> Delta:
    """DeLong's paired test of ΔAUC = AUC(candidate) − AUC(baseline) on the same rows.

    Var(Δ) = S_cc + S_bb − 2·S_cb from the structural components' covariance; z = Δ/sd,
    two-sided p-value and the CI Δ ± z·sd (as pROC's ``roc.test(paired = TRUE)``). With
    fewer than 2 positives or negatives only the AUCs and Δ are given.
    """
    rc, rb = rank(y_true, candidate), rank(y_true, baseline)
    if rc.positives == 0 or rc.negatives == 0:
        return Delta("auc", None, None, None, None, None, "delong")
    auc_c, auc_b = _auc(rc), _auc(rb)
    if rc.positives < 2 or rc.negatives < 2:
        return Delta("auc", auc_c, auc_b, auc_c - auc_b, None, None, "delong")
    _, cov = delong_covariance(y_true, [rc, rb])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    return _normal_delta("auc", auc_c, auc_b, auc_c - auc_b, variance, alpha, "delong")

"""The numbers of a metric summary: AUC with DeLong's variance, and paired deltas with CIs.

This module is the public metric API (every name in ``__all__`` imports from here) and
holds the paired comparisons. One model's point metrics are in
:mod:`bot.domain.point_metrics`; ranks, AUC and DeLong's variance in :mod:`bot.domain.delong`;
the :class:`Interval` and :class:`Delta` values in :mod:`bot.domain.intervals`.

Conventions, shared by all of them:

- Arrays are 1-d float64; for classification ``y_true`` holds 0.0/1.0 and a score may be any
  real number (rank metrics need no calibration).
- A threshold of 0.5 turns a score into a decision: ``score >= 0.5`` is positive (as
  scikit-learn's ``accuracy_score(y, score >= 0.5)``).
- Probability metrics (log loss, Brier, accuracy, F1) are None when any score lies outside
  [0, 1]: such scores are not probabilities.
- A delta is candidate − baseline, on the same rows; its interval has coverage 1 − alpha.
- Nothing here warns: undefined values are None, never NaN.

How each paired interval is computed (SPEC §5):

- ΔAUC: DeLong's paired test (DeLong, DeLong & Clarke-Pearson 1988) with the O(n log n)
  structural components of Sun & Xu (2014): z, two-sided p-value, normal CI.
- Log loss, Brier, accuracy, MAE: means of per-row terms, so the paired normal interval on
  the per-row differences, mean ± z·sd/√n, with its p-value ("analytic").
- RMSE and R²: smooth functions of per-row means, so the delta method on the per-row
  influence values ("analytic"); exact in large samples, no resampling needed.
- Average precision and F1 are not means of per-row terms: a seeded, vectorised paired
  bootstrap, stratified by class, with percentile CIs (see :mod:`bot.domain.stats_bootstrap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.domain import stats_bootstrap
from bot.domain.delong import (
    AucResult,
    Ranking,
    _auc,
    _with_interval,
    delong_auc,
    delong_covariance,
    delong_paired,
    rank,
)
from bot.domain.intervals import Delta, Interval, _normal_delta, two_sided_p, z_quantile
from bot.domain.point_metrics import (
    MEAN_METRICS,
    PROBABILITY_METRICS,
    _classification_from,
    brier_terms,
    classification_metrics,
    correct_terms,
    f1_at_half,
    is_probability,
    log_loss_terms,
    probability_terms,
    regression_metrics,
)

__all__ = [
    "MEAN_METRICS",
    "PROBABILITY_METRICS",
    "AucResult",
    "ClassificationComparison",
    "Delta",
    "FloatArray",
    "IntArray",
    "Interval",
    "Ranking",
    "brier_terms",
    "classification_metrics",
    "compare_classification",
    "correct_terms",
    "delong_auc",
    "delong_covariance",
    "delong_paired",
    "f1_at_half",
    "is_probability",
    "log_loss_terms",
    "paired_classification",
    "paired_regression",
    "probability_terms",
    "rank",
    "regression_metrics",
    "two_sided_p",
    "z_quantile",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _mean_delta(metric: str, candidate: FloatArray, baseline: FloatArray, alpha: float) -> Delta:
    """The paired normal interval for a metric that is a mean of per-row terms."""
    diff = candidate - baseline
    n = diff.shape[0]
    variance = float(diff.var(ddof=1)) / n if n > 1 else math.nan
    c, b, d = float(candidate.mean()), float(baseline.mean()), float(diff.mean())
    if not math.isfinite(variance):
        return Delta(metric, c, b, d, None, None, "analytic")
    return _normal_delta(metric, c, b, d, variance, alpha, "analytic")


def _influence_delta(
    metric: str, candidate: float, baseline: float, influence: FloatArray, alpha: float
) -> Delta:
    """Delta method: Var(Δ) ≈ var(influence values) / n."""
    n = influence.shape[0]
    delta = candidate - baseline
    if n < 2:
        return Delta(metric, candidate, baseline, delta, None, None, "analytic")
    variance = float(influence.var(ddof=1)) / n
    return _normal_delta(metric, candidate, baseline, delta, variance, alpha, "analytic")


def _missing(metric: str, candidate: float | None, baseline: float | None, method: str) -> Delta:
    return Delta(metric, candidate, baseline, None, None, None, method)


@dataclass(frozen=True)
class ClassificationComparison:
    """Both models' metrics, the candidate's AUC with its CI, and the paired deltas."""

    candidate: dict[str, float | None]
    baseline: dict[str, float | None]
    candidate_auc: AucResult | None  # None with a single class
    deltas: dict[str, Delta]


def compare_classification(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    seed: int = 0,
    resamples: int = 1000,
    alpha: float = 0.05,
) -> ClassificationComparison:
    """Everything a paired classification summary shows, sorting each model's scores once."""
    rc, rb = rank(y_true, candidate), rank(y_true, baseline)
    tc, tb = probability_terms(y_true, candidate), probability_terms(y_true, baseline)
    mc = _classification_from(y_true, candidate, rc, tc)
    mb = _classification_from(y_true, baseline, rb, tb)
    deltas = {"auc": Delta("auc", None, None, None, None, None, "delong")}
    candidate_auc: AucResult | None = None
    if rc.positives > 0 and rc.negatives > 0:
        auc_c, auc_b = _auc(rc), _auc(rb)
        candidate_auc = AucResult(auc_c, None, None)
        deltas["auc"] = Delta("auc", auc_c, auc_b, auc_c - auc_b, None, None, "delong")
    if rc.positives >= 2 and rc.negatives >= 2:
        aucs, cov = delong_covariance(y_true, [rc, rb])
        candidate_auc = _with_interval(float(aucs[0]), float(cov[0, 0]), alpha)
        variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
        delta = float(aucs[0] - aucs[1])
        deltas["auc"] = _normal_delta(
            "auc", float(aucs[0]), float(aucs[1]), delta, variance, alpha, "delong"
        )
    probability = tc is not None and tb is not None
    for metric in MEAN_METRICS:
        if tc is not None and tb is not None:
            deltas[metric] = _mean_delta(metric, tc[metric], tb[metric], alpha)
        else:
            deltas[metric] = _missing(metric, mc[metric], mb[metric], "analytic")
    ap_c, ap_b = mc["ap"], mb["ap"]
    ap_ci, f1_ci = stats_bootstrap.paired_bootstrap(
        y_true,
        candidate,
        baseline,
        orders=(rc.order[::-1], rb.order[::-1]),
        ap_delta=ap_c - ap_b if ap_c is not None and ap_b is not None else None,
        f1=probability,
        seed=seed,
        resamples=resamples,
        alpha=alpha,
    )
    for metric, ci in (("ap", ap_ci), ("f1", f1_ci)):
        c, b = mc[metric], mb[metric]
        if c is None or b is None:
            deltas[metric] = _missing(metric, c, b, "bootstrap")
        else:
            interval = Interval(*ci) if ci is not None else None
            deltas[metric] = Delta(metric, c, b, c - b, interval, None, "bootstrap")
    ordered = {name: deltas[name] for name in ("auc", "ap", *PROBABILITY_METRICS)}
    return ClassificationComparison(mc, mb, candidate_auc, ordered)


def paired_classification(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    seed: int = 0,
    resamples: int = 1000,
    alpha: float = 0.05,
) -> dict[str, Delta]:
    """One Delta per classification metric, candidate against baseline on the same rows."""
    return compare_classification(
        y_true, candidate, baseline, seed=seed, resamples=resamples, alpha=alpha
    ).deltas


def paired_regression(
    y_true: FloatArray,
    candidate: FloatArray,
    baseline: FloatArray,
    *,
    seed: int = 0,
    resamples: int = 1000,
    alpha: float = 0.05,
) -> dict[str, Delta]:
    """One Delta per regression metric (rmse, mae, r2), all analytic.

    MAE is a mean of per-row terms. RMSE = √MSE and R² = 1 − MSE/Var(y) are smooth functions
    of per-row means, so the delta method gives their variance: influence of row i on RMSE
    is e_i²/(2·RMSE) (zero for a model whose RMSE is 0: its errors are all 0), on R² it is
    −(Δe_i² − ΔMSE)/V + ΔMSE·(t_i − V)/V² with t_i = (y_i − ȳ)², V = mean(t). No resampling,
    so ``seed`` and ``resamples`` are accepted for symmetry with the classification call only.
    """
    del seed, resamples  # analytic throughout
    sq_c = (y_true - candidate) ** 2
    sq_b = (y_true - baseline) ** 2
    mc, mb = regression_metrics(y_true, candidate), regression_metrics(y_true, baseline)
    mae = _mean_delta("mae", np.abs(y_true - candidate), np.abs(y_true - baseline), alpha)
    influence = _rmse_term(sq_c, mc["rmse"]) - _rmse_term(sq_b, mb["rmse"])
    rmse = _influence_delta("rmse", mc["rmse"], mb["rmse"], influence, alpha)
    t = (y_true - y_true.mean()) ** 2
    v = float(t.mean())
    if v > 0.0:
        d = sq_c - sq_b
        d_mse = float(d.mean())
        r2_influence = -(d - d_mse) / v + d_mse * (t - v) / v**2
        r2 = _influence_delta("r2", mc["r2"], mb["r2"], r2_influence, alpha)
    else:
        r2 = Delta("r2", mc["r2"], mb["r2"], mc["r2"] - mb["r2"], None, None, "analytic")
    return {"rmse": rmse, "mae": mae, "r2": r2}


def _rmse_term(squared_errors: FloatArray, rmse: float) -> FloatArray:
    if rmse == 0.0:
        return np.zeros_like(squared_errors)
    out: FloatArray = squared_errors / (2.0 * rmse)
    return out

"""The numbers of a metric summary: AUC with DeLong's variance, and paired deltas with CIs.

Conventions, shared by every function here:

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
  bootstrap with percentile CIs (see :mod:`bot.domain.stats_bootstrap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from bot.domain import stats_bootstrap

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# scikit-learn (>= 1.5) clips probabilities to [eps, 1 - eps] with the dtype's machine
# epsilon before taking logs; older versions used 1e-15. We follow the current one.
_EPS = float(np.finfo(np.float64).eps)
PROBABILITY_METRICS = ("log_loss", "brier", "accuracy", "f1")


@dataclass(frozen=True)
class Interval:
    """A confidence interval [low, high]."""

    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


@dataclass(frozen=True)
class AucResult:
    """AUC-ROC with DeLong's variance; variance and CI are None with < 2 positives or negatives."""

    auc: float
    variance: float | None
    ci: Interval | None


@dataclass(frozen=True)
class Delta:
    """A paired comparison of one metric: candidate − baseline on the same rows."""

    metric: str
    candidate: float | None
    baseline: float | None
    delta: float | None
    ci: Interval | None
    p_value: float | None  # DeLong / analytic; None for the bootstrap
    method: str  # "delong" | "analytic" | "bootstrap"


def z_quantile(alpha: float) -> float:
    """The two-sided normal quantile z with P(|Z| > z) = alpha."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z; erfc keeps tiny p-values accurate."""
    return math.erfc(abs(z) / math.sqrt(2.0))


# --- ranks, AUC and DeLong -------------------------------------------------------------


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


def _normal_delta(
    metric: str,
    candidate: float,
    baseline: float,
    delta: float,
    variance: float,
    alpha: float,
    method: str,
) -> Delta:
    """A delta with its normal CI and two-sided p-value from its variance.

    A zero variance means every resampling would give the same delta: the CI is that point
    and p is 1 when the delta is 0, else 0 (e.g. identical models, or a candidate that is
    right on every row where the baseline is wrong).
    """
    variance = max(variance, 0.0)
    sd = math.sqrt(variance)
    if sd == 0.0:
        p = 1.0 if delta == 0.0 else 0.0
        return Delta(metric, candidate, baseline, delta, Interval(delta, delta), p, method)
    half = z_quantile(alpha) * sd
    ci = Interval(delta - half, delta + half)
    return Delta(metric, candidate, baseline, delta, ci, two_sided_p(delta / sd), method)


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


# --- point metrics ---------------------------------------------------------------------


def _average_precision(r: Ranking) -> float | None:
    """Average precision as scikit-learn defines it: Σ (R_k − R_{k−1}) P_k over thresholds.

    Each distinct score is one threshold (tied rows enter together), walked from the top.
    """
    m = r.positives
    if m == 0:
        return None
    pos = r.pos[::-1]
    precision = np.cumsum(pos) / np.cumsum(pos + r.neg[::-1])
    return float(np.dot(pos, precision) / m)


def is_probability(score: FloatArray) -> bool:
    """Whether every score lies in [0, 1]."""
    return bool(score.size == 0 or (score.min() >= 0.0 and score.max() <= 1.0))


def log_loss_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    """Per-row log loss, probabilities clipped to [eps, 1 − eps] as scikit-learn does.

    −log(p) for a positive, −log(1 − p) for a negative (scikit-learn's form, so the results
    agree to the last bits; one log per row).
    """
    p = np.clip(score, _EPS, 1.0 - _EPS)
    out: FloatArray = -np.log(np.where(y_true == 1.0, p, 1.0 - p))
    return out


def brier_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    out: FloatArray = (score - y_true) ** 2
    return out


def correct_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    """1.0 where the decision ``score >= 0.5`` equals the label, else 0.0."""
    out: FloatArray = ((score >= 0.5) == (y_true == 1.0)).astype(np.float64)
    return out


def f1_at_half(y_true: FloatArray, score: FloatArray) -> float | None:
    """F1 of the decision ``score >= 0.5``; None when there is neither a positive nor a call."""
    predicted = score >= 0.5
    actual = y_true == 1.0
    tp = int(np.count_nonzero(predicted & actual))
    wrong = int(np.count_nonzero(predicted != actual))
    return 2.0 * tp / (2.0 * tp + wrong) if tp or wrong else None


MEAN_METRICS = {"log_loss": log_loss_terms, "brier": brier_terms, "accuracy": correct_terms}


def probability_terms(y_true: FloatArray, score: FloatArray) -> dict[str, FloatArray] | None:
    """The per-row terms whose means are log loss, Brier and accuracy (None: not probabilities)."""
    if not is_probability(score):
        return None
    return {name: terms(y_true, score) for name, terms in MEAN_METRICS.items()}


def _classification_from(
    y_true: FloatArray, score: FloatArray, r: Ranking, terms: dict[str, FloatArray] | None
) -> dict[str, float | None]:
    both = r.positives > 0 and r.negatives > 0
    metrics: dict[str, float | None] = {
        "auc": _auc(r) if both else None,
        "ap": _average_precision(r),
    }
    for name in MEAN_METRICS:
        metrics[name] = float(terms[name].mean()) if terms is not None else None
    metrics["f1"] = f1_at_half(y_true, score) if terms is not None else None
    return metrics


def classification_metrics(y_true: FloatArray, score: FloatArray) -> dict[str, float | None]:
    """auc, ap, log_loss, brier, accuracy and f1 (at 0.5) of one model.

    auc is None with a single class, ap with no positive; the probability metrics are None
    when any score is outside [0, 1].
    """
    terms = probability_terms(y_true, score)
    return _classification_from(y_true, score, rank(y_true, score), terms)


def regression_metrics(y_true: FloatArray, pred: FloatArray) -> dict[str, float]:
    """rmse, mae and r2 of one model (r2 of a constant y_true: 1 if perfect, else 0, as sklearn)."""
    error = y_true - pred
    ss_res = float(np.dot(error, error))
    centred = y_true - y_true.mean()
    ss_tot = float(np.dot(centred, centred))
    if ss_tot > 0.0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0.0 else 0.0
    return {
        "rmse": math.sqrt(ss_res / error.shape[0]),
        "mae": float(np.abs(error).mean()),
        "r2": r2,
    }


# --- paired comparisons ----------------------------------------------------------------


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

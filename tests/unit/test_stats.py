"""The statistics of metric summaries, against independent references.

References: scikit-learn for every point metric; a slow pairwise DeLong written from the
1988 paper (tests/unit/delong_reference.py); R's pROC on its published aSAH example;
seeded coverage simulations with known true values; plain Python-loop bootstraps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from bot.domain import stats, stats_bootstrap
from tests.unit import delong_reference

FloatArray = stats.FloatArray
Z95 = NormalDist().inv_cdf(0.975)


def _probabilities(seed: int, n: int, decimals: int | None = None) -> tuple[FloatArray, ...]:
    """Labels and two correlated probability scores; rounding makes heavy ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.float64)
    signal = y + rng.normal(size=n)
    a = 1.0 / (1.0 + np.exp(-signal))
    b = 1.0 / (1.0 + np.exp(-(0.6 * signal + rng.normal(size=n))))
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    return y, a, b


DATASETS = {
    "continuous": _probabilities(1, 2_000),
    "ties (2 decimals)": _probabilities(2, 2_000, 2),
    "heavy ties (1 decimal)": _probabilities(3, 2_000, 1),
    "small": _probabilities(4, 40, 1),
}


# --- point metrics against scikit-learn ------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_classification_metrics_equal_scikit_learn(name: str) -> None:
    y, a, _ = DATASETS[name]
    got = stats.classification_metrics(y, a)
    assert got["auc"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert got["ap"] == pytest.approx(average_precision_score(y, a), abs=1e-12)
    assert got["log_loss"] == pytest.approx(log_loss(y, a), abs=1e-12)
    assert got["brier"] == pytest.approx(brier_score_loss(y, a), abs=1e-12)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, a >= 0.5), abs=1e-12)
    assert got["f1"] == pytest.approx(f1_score(y, a >= 0.5), abs=1e-12)


def test_auc_and_ap_equal_scikit_learn_on_unbounded_scores_with_ties() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(5_000) < 0.1).astype(np.float64)
    score = np.round(3.0 * y + rng.normal(scale=4.0, size=5_000))  # integers: many ties
    got = stats.classification_metrics(y, score)
    assert got["auc"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert got["ap"] == pytest.approx(average_precision_score(y, score), abs=1e-12)
    assert stats.delong_auc(y, score).auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_log_loss_clips_certain_mistakes_like_scikit_learn() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0])
    score = np.array([0.0, 1.0, 1.0, 0.0])  # two certain mistakes: log(0) without clipping
    got = stats.classification_metrics(y, score)
    assert got["log_loss"] == pytest.approx(log_loss(y, score), rel=1e-12)
    assert math.isfinite(got["log_loss"] or math.nan)


def test_scores_outside_unit_interval_have_no_probability_metrics() -> None:
    y, a, _ = DATASETS["continuous"]
    got = stats.classification_metrics(y, a * 3.0 - 1.0)
    assert got["auc"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert [got[m] for m in ("log_loss", "brier", "accuracy", "f1")] == [None] * 4


def test_a_single_class_has_no_auc() -> None:
    y = np.ones(20)
    score = np.linspace(0.0, 1.0, 20)
    assert stats.classification_metrics(y, score)["auc"] is None
    with pytest.raises(ValueError, match="both classes"):
        stats.delong_auc(y, score)


def test_regression_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(size=1_000) * 3.0 + 10.0
    pred = y + rng.normal(size=1_000)
    got = stats.regression_metrics(y, pred)
    assert got["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, pred)), abs=1e-12)
    assert got["mae"] == pytest.approx(mean_absolute_error(y, pred), abs=1e-12)
    assert got["r2"] == pytest.approx(r2_score(y, pred), abs=1e-12)


# --- DeLong against the O(n²) structural components -------------------------------------


REFERENCE_SETS = {
    "continuous": _probabilities(11, 150),
    "ties": _probabilities(12, 150, 1),
    "imbalanced ties": _probabilities(13, 120, 2),
    "integer scores": tuple(
        np.round(v * 4.0) if i else v for i, v in enumerate(_probabilities(14, 90))
    ),
}


@pytest.mark.parametrize("name", REFERENCE_SETS)
def test_delong_covariance_equals_the_pairwise_reference(name: str) -> None:
    y, a, b = REFERENCE_SETS[name]
    aucs, cov = stats.delong_covariance(y, [stats.rank(y, a), stats.rank(y, b)])
    ref_aucs, ref_cov = delong_reference.auc_and_covariance(y, [a, b])
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=1e-10)
    single = stats.delong_auc(y, a)
    assert single.variance == pytest.approx(ref_cov[0][0], abs=1e-12)


@pytest.mark.parametrize("name", REFERENCE_SETS)
def test_delong_paired_test_equals_the_pairwise_reference(name: str) -> None:
    y, a, b = REFERENCE_SETS[name]
    delta, variance, z, p = delong_reference.paired_test(y, a, b)
    got = stats.delong_paired(y, a, b)
    assert got.method == "delong"
    assert got.delta == pytest.approx(delta, abs=1e-12)
    assert got.p_value == pytest.approx(p, abs=1e-10)
    assert got.ci is not None and got.delta is not None
    half = Z95 * math.sqrt(variance)
    assert (got.ci.low, got.ci.high) == pytest.approx((delta - half, delta + half), abs=1e-10)
    # z recovered from the interval's half-width, as a reader of the summary would.
    got_z = got.delta / ((got.ci.high - got.ci.low) / (2 * Z95))
    assert got_z == pytest.approx(z, abs=1e-8)


def test_identical_models_do_not_differ() -> None:
    y, a, _ = DATASETS["ties (2 decimals)"]
    got = stats.delong_paired(y, a, a.copy())
    assert (got.delta, got.p_value, got.ci) == (0.0, 1.0, stats.Interval(0.0, 0.0))


def test_fewer_than_two_of_a_class_gives_no_variance() -> None:
    y = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    score = np.array([0.9, 0.1, 0.2, 0.95, 0.3])
    result = stats.delong_auc(y, score)
    assert (result.auc, result.variance, result.ci) == (0.75, None, None)
    paired = stats.delong_paired(y, score, score[::-1].copy())
    assert paired.delta is not None and paired.ci is None and paired.p_value is None


# --- pROC's published results on aSAH --------------------------------------------------
#
# tests/unit/data/asah.csv is pROC's data set ``aSAH`` (113 patients, 41 with a poor
# outcome): outcome, s100b, ndka, wfns. The values below are the expectations of pROC's own
# test suite (github.com/xrobin/pROC, tests/testthat/test-var.R, test-cov.R, test-ci.auc.R,
# test-roc.test.R; r.x <- roc(aSAH$outcome, aSAH$x)) and its documented example
# auc(aSAH$outcome, aSAH$s100b) = 0.7314, 95% CI 0.6301–0.8326 (DeLong).

ASAH = pd.read_csv(Path(__file__).parent / "data" / "asah.csv")
ASAH_Y = (ASAH["outcome"] == "Poor").to_numpy(np.float64)
WFNS, NDKA, S100B = (ASAH[c].to_numpy(np.float64) for c in ("wfns", "ndka", "s100b"))


def test_asah_is_the_published_data_set() -> None:
    assert (len(ASAH), int(ASAH_Y.sum())) == (113, 41)


def test_asah_auc_and_ci_match_proc_documentation() -> None:
    result = stats.delong_auc(ASAH_Y, S100B)
    assert round(result.auc, 4) == 0.7314
    assert result.ci is not None
    assert (round(result.ci.low, 4), round(result.ci.high, 4)) == (0.6301, 0.8326)


def test_asah_variances_and_covariances_match_proc() -> None:
    rankings = [stats.rank(ASAH_Y, s) for s in (WFNS, NDKA, S100B)]
    _, cov = stats.delong_covariance(ASAH_Y, rankings)
    expected_var = (0.00146991470882363, 0.0031908105493913, 0.00266868245717244)
    np.testing.assert_allclose(np.diag(cov), expected_var, rtol=1e-12)
    assert cov[0, 1] == pytest.approx(-0.000532967856762438, rel=1e-12)  # wfns, ndka
    assert cov[1, 2] == pytest.approx(-0.000756164938056579, rel=1e-12)  # ndka, s100b
    assert cov[2, 0] == pytest.approx(0.00119615567376754, rel=1e-12)  # s100b, wfns


def test_asah_ci_auc_matches_proc() -> None:
    result = stats.delong_auc(ASAH_Y, NDKA)
    assert result.ci is not None
    got = (result.ci.low, result.auc, result.ci.high)
    assert got == pytest.approx(
        (0.501244999271703, 0.611957994579946, 0.722670989888189), rel=1e-12
    )


@pytest.mark.parametrize(
    ("first", "second", "z", "p", "ci"),
    [
        (
            WFNS,
            S100B,
            2.20898359144091,
            0.0271757822291882,
            (0.0104061769564846, 0.174214419249478),
        ),
        (
            WFNS,
            NDKA,
            2.79777591868904,
            0.00514557970691098,
            (0.0634011709339876, 0.3600405634833566),
        ),
        (
            NDKA,
            S100B,
            -1.39077002573558,
            0.164295175223054,
            (-0.2876917446341914, 0.0488706064228094),
        ),
    ],
    ids=["wfns-s100b", "wfns-ndka", "ndka-s100b"],
)
def test_asah_paired_roc_test_matches_proc(
    first: FloatArray, second: FloatArray, z: float, p: float, ci: tuple[float, float]
) -> None:
    got = stats.delong_paired(ASAH_Y, first, second)
    assert got.p_value == pytest.approx(p, rel=1e-12)
    assert got.ci is not None and got.delta is not None
    assert (got.ci.low, got.ci.high) == pytest.approx(ci, rel=1e-12)
    assert got.delta / ((got.ci.high - got.ci.low) / (2 * Z95)) == pytest.approx(z, rel=1e-9)


# --- coverage in seeded simulations ----------------------------------------------------

REPLICATIONS = 1_000
# 95% nominal coverage over 1000 replications: binomial sd 0.0069; ±3.5 sd.
COVERAGE_BAND = (0.95 - 3.5 * 0.0069, 0.95 + 3.5 * 0.0069)


def test_delong_intervals_cover_the_true_auc_and_difference() -> None:
    """Binormal scores: positives N(mu, 1), negatives N(0, 1), so AUC = Φ(mu/√2) exactly."""
    phi = NormalDist().cdf
    rng = np.random.default_rng(2024)
    m = n = 100
    mu_a, mu_b, rho = 1.2, 0.8, 0.6
    true_a, true_b = phi(mu_a / math.sqrt(2)), phi(mu_b / math.sqrt(2))
    y = np.r_[np.ones(m), np.zeros(n)]
    covered_auc = covered_delta = 0
    for _ in range(REPLICATIONS):
        e_a = rng.normal(size=m + n)
        e_b = rho * e_a + math.sqrt(1 - rho**2) * rng.normal(size=m + n)
        a, b = e_a + mu_a * y, e_b + mu_b * y
        ci = stats.delong_auc(y, a).ci
        assert ci is not None
        covered_auc += ci.low <= true_a <= ci.high
        d = stats.delong_paired(y, a, b).ci
        assert d is not None
        covered_delta += d.low <= true_a - true_b <= d.high
    assert COVERAGE_BAND[0] <= covered_auc / REPLICATIONS <= COVERAGE_BAND[1]
    assert COVERAGE_BAND[0] <= covered_delta / REPLICATIONS <= COVERAGE_BAND[1]


def test_analytic_regression_intervals_cover_the_true_differences() -> None:
    """y = x + e; a model's error is e + its own noise, normal with a known sd, so the true
    MAE (sd·√(2/π)), RMSE (sd) and R² (1 − sd²/Var y) are known in closed form."""
    rng = np.random.default_rng(7)
    n, sd_e, sd_a, sd_b = 300, 1.0, 0.5, 0.9
    s_a, s_b = math.hypot(sd_e, sd_a), math.hypot(sd_e, sd_b)
    truth = {
        "mae": math.sqrt(2 / math.pi) * (s_a - s_b),
        "rmse": s_a - s_b,
        "r2": -(sd_a**2 - sd_b**2) / (1 + sd_e**2),
    }
    covered = dict.fromkeys(truth, 0)
    for _ in range(REPLICATIONS):
        x = rng.normal(size=n)
        y = x + rng.normal(scale=sd_e, size=n)
        a = x + rng.normal(scale=sd_a, size=n)
        b = x + rng.normal(scale=sd_b, size=n)
        deltas = stats.paired_regression(y, a, b)
        for metric, true in truth.items():
            ci = deltas[metric].ci
            assert ci is not None
            covered[metric] += ci.low <= true <= ci.high
    for metric, count in covered.items():
        assert COVERAGE_BAND[0] <= count / REPLICATIONS <= COVERAGE_BAND[1], metric


# --- analytic paired intervals ---------------------------------------------------------


def test_mean_metric_intervals_are_paired_normal_intervals() -> None:
    y, a, b = DATASETS["continuous"]
    deltas = stats.paired_classification(y, a, b)
    per_row: dict[str, Callable[[FloatArray], FloatArray]] = {
        "log_loss": lambda s: -(y * np.log(s) + (1 - y) * np.log(1 - s)),
        "brier": lambda s: (s - y) ** 2,
        "accuracy": lambda s: ((s >= 0.5) == y).astype(np.float64),
    }
    for metric, terms in per_row.items():
        diff = terms(a) - terms(b)
        se = diff.std(ddof=1) / math.sqrt(len(diff))
        d = deltas[metric]
        assert d.method == "analytic"
        assert d.delta == pytest.approx(diff.mean(), abs=1e-12)
        assert d.ci is not None
        assert (d.ci.low, d.ci.high) == pytest.approx(
            (diff.mean() - Z95 * se, diff.mean() + Z95 * se), abs=1e-12
        )
        assert d.p_value == pytest.approx(math.erfc(abs(diff.mean() / se) / math.sqrt(2)))


def test_a_perfect_regression_model_still_gets_an_rmse_interval() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(size=200)
    deltas = stats.paired_regression(y, y.copy(), y + rng.normal(size=200))
    ci = deltas["rmse"].ci
    assert ci is not None and ci.high < 0 < ci.high - ci.low


def test_constant_labels_give_no_r2_interval() -> None:
    y = np.full(50, 3.0)
    deltas = stats.paired_regression(y, y + 0.1, y + np.linspace(-1, 1, 50))
    assert deltas["r2"].ci is None


# --- the paired bootstrap --------------------------------------------------------------


def _loop_bootstrap(
    y: FloatArray, a: FloatArray, b: FloatArray, seed: int, resamples: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The textbook stratified paired bootstrap: resample positives and negatives apart
    (positives' draws first), score both models with sklearn. Each class's rows are listed
    by descending candidate score, then baseline score, so the row order does not count."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    pos, neg = (rows[np.lexsort((-b[rows], -a[rows]))] for rows in (pos, neg))
    pos_draws = rng.integers(0, len(pos), size=(resamples, len(pos)))
    neg_draws = rng.integers(0, len(neg), size=(resamples, len(neg)))
    ap, f1 = [], []
    for pos_rows, neg_rows in zip(pos[pos_draws], neg[neg_draws], strict=True):
        rows = np.concatenate([pos_rows, neg_rows])
        yy, aa, bb = y[rows], a[rows], b[rows]
        ap.append(average_precision_score(yy, aa) - average_precision_score(yy, bb))
        f1.append(
            f1_score(yy, aa >= 0.5, zero_division=np.nan)
            - f1_score(yy, bb >= 0.5, zero_division=np.nan)
        )
    bounds = []
    for values in (np.array(ap), np.array(f1)):
        low, high = np.percentile(values[np.isfinite(values)], [2.5, 97.5])
        bounds.append((float(low), float(high)))
    return bounds[0], bounds[1]


@pytest.mark.parametrize("name", ["ties (2 decimals)", "small"])
def test_plain_bootstrap_equals_a_python_loop_over_the_same_resamples(name: str) -> None:
    y, a, b = DATASETS[name]
    y, a, b = y[:400], a[:400], b[:400]
    ap, f1 = _loop_bootstrap(y, a, b, seed=3, resamples=200)
    deltas = stats.paired_classification(y, a, b, seed=3, resamples=200)
    assert deltas["ap"].method == "bootstrap" and deltas["ap"].p_value is None
    got_ap, got_f1 = deltas["ap"].ci, deltas["f1"].ci
    assert got_ap is not None and got_f1 is not None
    assert (got_ap.low, got_ap.high) == pytest.approx(ap, abs=1e-12)
    assert (got_f1.low, got_f1.high) == pytest.approx(f1, abs=1e-12)


@pytest.mark.parametrize(
    "rows", [400, 3 * stats_bootstrap.PLAIN_MAX_ROWS], ids=["plain", "large n"]
)
def test_shuffled_rows_of_the_same_evaluation_give_the_identical_intervals(rows: int) -> None:
    """The same held-out rows uploaded in another order: the same ΔAP and ΔF1 intervals, to
    the last bit (resamples are drawn in an order fixed by the data, ties included)."""
    y, a, b = _probabilities(5, rows, 2)
    first = stats.paired_classification(y, a, b, seed=7, resamples=200)
    for shuffle in range(3):
        order = np.random.default_rng(shuffle).permutation(rows)
        again = stats.paired_classification(y[order], a[order], b[order], seed=7, resamples=200)
        for metric in ("ap", "f1"):
            assert again[metric].ci is not None
            assert again[metric].ci == first[metric].ci, (metric, shuffle)


def test_bootstrap_is_seeded() -> None:
    y, a, b = DATASETS["continuous"]
    first = stats.paired_classification(y, a, b, seed=1)
    assert stats.paired_classification(y, a, b, seed=1) == first
    assert stats.paired_classification(y, a, b, seed=2)["ap"].ci != first["ap"].ci


def test_large_n_bootstrap_matches_the_plain_bootstrap() -> None:
    """Above PLAIN_MAX_ROWS, AP by the stratified Bag of Little Bootstraps and F1 by the
    exact multinomial over joint cells: same interval as the plain bootstrap, to sampling
    error."""
    n = 3 * stats_bootstrap.PLAIN_MAX_ROWS
    y, a, b = _probabilities(21, n, 3)
    orders = (np.argsort(-a), np.argsort(-b))
    plain_ap, plain_f1 = stats_bootstrap.plain_paired_bootstrap(
        y, a, b, orders, f1=True, rng=np.random.default_rng(0), resamples=1000
    )
    assert plain_f1 is not None
    deltas = stats.paired_classification(y, a, b, seed=0)
    for metric, plain in (("ap", plain_ap), ("f1", plain_f1)):
        low, high = np.percentile(plain, [2.5, 97.5])
        ci = deltas[metric].ci
        assert ci is not None
        width = high - low
        assert ci.high - ci.low == pytest.approx(width, rel=0.15), metric
        assert (ci.low + ci.high) / 2 == pytest.approx((low + high) / 2, abs=0.15 * width)


def test_a_blb_subset_of_every_row_is_the_plain_bootstrap() -> None:
    """The large-n AP resample, given the whole data as its subset, is the AP of the
    resampled rows — ties included — whatever the weights."""
    y, a, _ = DATASETS["ties (2 decimals)"]
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(9)
    weights = (
        rng.multinomial(len(pos), np.full(len(pos), 1 / len(pos)), size=5).astype(float),
        rng.multinomial(len(neg), np.full(len(neg), 1 / len(neg)), size=5).astype(float),
    )
    keys = stats_bootstrap.class_keys(y, a, np.argsort(-a))
    got, own = stats_bootstrap.subset_ap((a[pos], a[neg]), keys, weights, (1.0, 1.0))
    assert own == pytest.approx(average_precision_score(y, a), abs=1e-12)
    for i in range(5):
        rows = np.concatenate(
            [np.repeat(pos, weights[0][i].astype(int)), np.repeat(neg, weights[1][i].astype(int))]
        )
        assert got[i] == pytest.approx(average_precision_score(y[rows], a[rows]), abs=1e-12)


def _rare_positives(seed: int, n: int, rate: float) -> tuple[FloatArray, ...]:
    """Labels with rare positives and two continuous (tie-free) correlated scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.float64)
    signal = 2.0 * y + rng.normal(size=n)
    a = 1.0 / (1.0 + np.exp(-(signal - 3.0)))
    b = 1.0 / (1.0 + np.exp(-(0.6 * signal + rng.normal(size=n) - 3.0)))
    return y, a, b


def _stratified_ap_deltas(
    y: FloatArray, a: FloatArray, b: FloatArray, resamples: int, seed: int
) -> FloatArray:
    """ΔAP of a plain stratified paired bootstrap, exact and vectorised for tie-free scores.

    A resample's AP needs, at each positive, how many resampled positives and negatives
    score at least as high. Positives are drawn one by one (Multinomial(p, 1/p)
    multiplicities). A negative counts for every positive ranked below it, so negatives
    enter only through how many fall in each (candidate gap, baseline gap) cell, where a
    gap is how many positives outscore them: Multinomial(n_neg, cell shares) counts.
    """
    rng = np.random.default_rng(seed)
    pos, neg = y == 1.0, y == 0.0
    p = int(pos.sum())
    multiplicity = rng.multinomial(p, np.full(p, 1.0 / p), size=resamples).astype(float)
    orders, gaps = [], []
    for s in (a, b):
        order = np.argsort(-s[pos])
        orders.append(order)
        gaps.append(np.searchsorted(-s[pos][order], -s[neg], side="left"))
    cells, sizes = np.unique(gaps[0] * (p + 1) + gaps[1], return_counts=True)
    drawn = rng.multinomial(int(neg.sum()), sizes / sizes.sum(), size=resamples)
    offsets = (np.arange(resamples) * (p + 1))[:, None]
    aps = []
    for order, gap in zip(orders, (cells // (p + 1), cells % (p + 1)), strict=True):
        per_gap = np.bincount(
            (gap + offsets).ravel(), weights=drawn.ravel(), minlength=resamples * (p + 1)
        )
        fp = np.cumsum(per_gap.reshape(resamples, p + 1), axis=1)[:, :p]
        w = multiplicity[:, order]
        tp = np.cumsum(w, axis=1)
        aps.append((w * tp / np.maximum(tp + fp, 1.0)).sum(axis=1) / p)
    deltas: FloatArray = aps[0] - aps[1]
    return deltas


def test_large_n_ap_interval_is_right_with_rare_positives() -> None:
    """80k rows, ~180 positives: an unstratified BLB subset of ~2,000 rows holds ~5
    positives, and its ΔAP intervals came out 0.6–0.8 of the plain bootstrap's width —
    false "better" verdicts. Every seed's interval must match a 2000-resample plain
    stratified bootstrap's to 15%."""
    y, a, b = _rare_positives(0, 80_000, 0.0025)
    assert 150 <= y.sum() <= 250 and len(np.unique(a)) == len(np.unique(b)) == len(y)
    plain = _stratified_ap_deltas(y, a, b, resamples=2000, seed=99)
    low, high = np.percentile(plain, [2.5, 97.5])
    width = high - low
    for seed in range(3):
        ci = stats.paired_classification(y, a, b, seed=seed)["ap"].ci
        assert ci is not None
        assert ci.high - ci.low == pytest.approx(width, rel=0.15), seed
        assert (ci.low + ci.high) / 2 == pytest.approx((low + high) / 2, abs=0.15 * width)


def test_probability_deltas_are_missing_for_unbounded_scores() -> None:
    y, a, b = DATASETS["continuous"]
    deltas = stats.paired_classification(y, a, b * 10.0)
    for metric in ("log_loss", "brier", "accuracy", "f1"):
        d = deltas[metric]
        assert (d.delta, d.ci, d.baseline) == (None, None, None)
        assert d.candidate is not None
    assert deltas["ap"].ci is not None and deltas["auc"].p_value is not None

"""Metric summaries: verdicts, the success criterion, AUC bands, warnings, pairing, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from bot.domain.evaluation import Kind, Predictions, ScalarMetrics
from bot.domain.model import Direction, SuccessCriterion
from bot.domain.stats import Delta, Interval
from bot.domain.summary import (
    MIN_PER_CLASS,
    Summary,
    Verdict,
    align,
    auc_band,
    summarize,
    verdict_of,
)

CLS = Kind.CLASSIFICATION
REG = Kind.REGRESSION


def _models(n: int = 2_000, seed: int = 0, rate: float = 0.3) -> tuple[np.ndarray, ...]:
    """Labels, a strong model's probabilities and a weak model's, on the same rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.float64)
    signal = 1.5 * y + rng.normal(size=n)
    strong = 1.0 / (1.0 + np.exp(-(signal - 0.8)))
    weak = 1.0 / (1.0 + np.exp(-(0.4 * signal + rng.normal(size=n) - 0.5)))
    return y, strong, weak


def _ids(n: int) -> np.ndarray:
    return np.array([f"row-{i}" for i in range(n)])


Y, STRONG, WEAK = _models()
STRONG_EVAL = Predictions(CLS, Y, STRONG)
WEAK_EVAL = Predictions(CLS, Y, WEAK)
AUC_UP = SuccessCriterion("auc", Direction.HIGHER, 0.01)


# --- verdicts and the success criterion ------------------------------------------------


def test_a_stronger_candidate_is_better_and_meets_the_criterion() -> None:
    summary = summarize(STRONG_EVAL, WEAK_EVAL, AUC_UP)
    assert summary.paired
    assert summary.verdict is Verdict.BETTER
    assert summary.criterion_met is True
    assert summary.metrics["auc"] == pytest.approx(roc_auc_score(Y, STRONG), abs=1e-12)
    assert summary.baseline_metrics is not None
    assert summary.baseline_metrics["auc"] == pytest.approx(roc_auc_score(Y, WEAK), abs=1e-12)
    assert set(summary.deltas) == {"auc", "ap", "log_loss", "brier", "accuracy", "f1"}


def test_a_weaker_candidate_is_worse_and_misses_the_criterion() -> None:
    summary = summarize(WEAK_EVAL, STRONG_EVAL, AUC_UP)
    assert (summary.verdict, summary.criterion_met) == (Verdict.WORSE, False)


def test_significant_but_smaller_than_the_minimum_is_not_met() -> None:
    gain = summarize(STRONG_EVAL, WEAK_EVAL, AUC_UP).deltas["auc"].delta
    assert gain is not None
    criterion = SuccessCriterion("auc", Direction.HIGHER, gain + 0.01)
    summary = summarize(STRONG_EVAL, WEAK_EVAL, criterion)
    assert (summary.verdict, summary.criterion_met) == (Verdict.BETTER, False)


def test_the_same_model_shows_no_difference_and_misses_the_criterion() -> None:
    same = Predictions(CLS, Y, STRONG.copy())
    summary = summarize(same, STRONG_EVAL, SuccessCriterion("auc", Direction.HIGHER, 0.0))
    assert (summary.verdict, summary.criterion_met) == (Verdict.SAME, False)


def test_lower_is_better_metrics_are_judged_downwards() -> None:
    criterion = SuccessCriterion("log_loss", Direction.LOWER, 0.01)
    summary = summarize(STRONG_EVAL, WEAK_EVAL, criterion)
    delta = summary.deltas["log_loss"].delta
    assert delta is not None and delta < -0.01
    assert (summary.verdict, summary.criterion_met) == (Verdict.BETTER, True)
    assert summarize(WEAK_EVAL, STRONG_EVAL, criterion).verdict is Verdict.WORSE


def test_a_criterion_pointing_the_wrong_way_is_flagged_and_never_met() -> None:
    criterion = SuccessCriterion("log_loss", Direction.HIGHER, 0.0)
    summary = summarize(STRONG_EVAL, WEAK_EVAL, criterion)
    assert summary.verdict is Verdict.BETTER and summary.criterion_met is False
    assert any("cannot be met as written" in w for w in summary.warnings)


def test_the_default_criterion_is_auc_up() -> None:
    summary = summarize(STRONG_EVAL, WEAK_EVAL, None)
    assert (summary.criterion_metric, summary.verdict, summary.criterion_met) == (
        "auc",
        Verdict.BETTER,
        True,
    )


@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (Delta("auc", 0.8, 0.7, 0.1, Interval(0.01, 0.19), 0.03, "delong"), Verdict.BETTER),
        (Delta("auc", 0.7, 0.8, -0.1, Interval(-0.19, -0.01), 0.03, "delong"), Verdict.WORSE),
        (Delta("auc", 0.8, 0.7, 0.1, Interval(-0.01, 0.21), 0.05, "delong"), Verdict.SAME),
        (Delta("brier", 0.1, 0.2, -0.1, Interval(-0.15, -0.05), 0.001, "analytic"), Verdict.BETTER),
        (Delta("rmse", 2.0, 1.0, 1.0, Interval(0.5, 1.5), 0.001, "analytic"), Verdict.WORSE),
        (Delta("ap", 0.5, 0.4, 0.1, Interval(0.02, 0.2), None, "bootstrap"), Verdict.BETTER),
        (Delta("f1", 0.5, 0.4, 0.1, Interval(-0.02, 0.2), None, "bootstrap"), Verdict.SAME),
        (Delta("ap", 0.5, 0.4, 0.1, None, None, "bootstrap"), None),
        (Delta("auc", None, None, None, None, None, "delong"), None),
    ],
)
def test_verdict_rules(delta: Delta, verdict: Verdict | None) -> None:
    assert verdict_of(delta) is verdict


def test_regression_is_judged_on_rmse_by_default() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500) * 2.0
    good = Predictions(REG, y, y + rng.normal(scale=0.5, size=500))
    poor = Predictions(REG, y, y + rng.normal(scale=1.5, size=500))
    summary = summarize(good, poor, None)
    assert summary.criterion_metric == "rmse"
    assert (summary.verdict, summary.criterion_met) == (Verdict.BETTER, True)
    assert set(summary.deltas) == {"rmse", "mae", "r2"}
    assert summary.prior is not None and summary.prior["r2"] == 0.0


# --- AUC bands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auc", "band"),
    [
        (0.3, "worse than chance"),
        (0.4999, "worse than chance"),
        (0.5, "chance"),
        (0.5001, "poor"),
        (0.6999, "poor"),
        (0.7, "acceptable"),
        (0.7999, "acceptable"),
        (0.8, "excellent"),
        (0.9, "excellent"),
        (0.9001, "exceptional"),
        (1.0, "exceptional"),
    ],
)
def test_auc_bands(auc: float, band: str) -> None:
    assert auc_band(auc) == band


# --- warnings and faulty evaluations ---------------------------------------------------


def test_near_perfect_auc_warns_of_leakage() -> None:
    leaky = Predictions(CLS, Y, np.clip(Y * 0.9 + STRONG * 0.1, 0, 1))
    summary = summarize(leaky, None, None)
    assert summary.metrics["auc"] is not None and summary.metrics["auc"] >= 0.99
    assert "leakage" in summary.warnings[0]
    assert "leakage" not in " ".join(summarize(STRONG_EVAL, None, None).warnings)


def test_different_labels_are_not_paired() -> None:
    other = Predictions(CLS, Y[::-1].copy(), WEAK)
    summary = summarize(STRONG_EVAL, other, AUC_UP)
    assert not summary.paired and summary.deltas == {}
    assert (summary.verdict, summary.criterion_met) == (None, None)
    assert any("different held-out set" in w for w in summary.warnings)
    assert summary.baseline_metrics is not None  # still shown, on its own rows


def test_different_row_counts_are_not_paired() -> None:
    shorter = Predictions(CLS, Y[:-5], WEAK[:-5])
    reason = align(STRONG_EVAL, shorter)
    assert isinstance(reason, str) and "different held-out set" in reason


def test_rows_are_matched_by_id_in_any_order() -> None:
    ids = _ids(len(Y))
    shuffle = np.random.default_rng(3).permutation(len(Y))
    candidate = Predictions(CLS, Y, STRONG, ids)
    baseline = Predictions(CLS, Y[shuffle], WEAK[shuffle], ids[shuffle])
    by_id = summarize(candidate, baseline, AUC_UP, seed=5)
    by_order = summarize(STRONG_EVAL, WEAK_EVAL, AUC_UP, seed=5)
    assert by_id.paired and by_id.deltas == by_order.deltas


def test_ids_with_different_labels_or_sets_are_not_paired() -> None:
    ids = _ids(len(Y))
    candidate = Predictions(CLS, Y, STRONG, ids)
    flipped = Y.copy()
    flipped[0] = 1.0 - flipped[0]
    assert "labels differ" in str(align(candidate, Predictions(CLS, flipped, WEAK, ids)))
    renamed = ids.copy()
    renamed[7] = "someone-else"
    reason = align(candidate, Predictions(CLS, Y, WEAK, renamed))
    assert isinstance(reason, str) and "'row-7'" in reason and "different held-out set" in reason


def test_too_few_positives_gives_no_interval_and_no_verdict() -> None:
    y = np.zeros(300)
    y[: MIN_PER_CLASS - 1] = 1.0
    rng = np.random.default_rng(4)
    candidate = Predictions(CLS, y, np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1))
    baseline = Predictions(CLS, y, rng.random(300))
    summary = summarize(candidate, baseline, AUC_UP)
    assert summary.paired and summary.verdict is None and summary.criterion_met is None
    assert summary.auc_ci is None
    assert all(d.ci is None and d.p_value is None for d in summary.deltas.values())
    assert summary.deltas["auc"].delta is not None  # the point difference is still shown
    assert any("intervals need at least 10" in w for w in summary.warnings)
    assert (summary.positives, summary.negatives) == (MIN_PER_CLASS - 1, 300 - MIN_PER_CLASS + 1)


def test_scores_outside_unit_interval_hide_probability_metrics() -> None:
    logits = Predictions(CLS, Y, np.log(STRONG / (1 - STRONG)))
    summary = summarize(logits, WEAK_EVAL, AUC_UP)
    assert summary.metrics["log_loss"] is None and summary.metrics["f1"] is None
    assert summary.verdict is Verdict.BETTER  # AUC needs no calibration
    assert any("outside [0, 1]" in w for w in summary.warnings)


def test_scalar_metrics_are_shown_but_never_significant() -> None:
    scalar = ScalarMetrics(CLS, {"auc": 0.995, "log_loss": 0.3})
    summary = summarize(scalar, WEAK_EVAL, AUC_UP)
    assert summary.metrics == {"auc": 0.995, "log_loss": 0.3}
    assert (summary.paired, summary.verdict, summary.criterion_met, summary.rows) == (
        False,
        None,
        None,
        None,
    )
    assert summary.band == "exceptional"
    assert any("never called significant" in w for w in summary.warnings)
    assert any("leakage" in w for w in summary.warnings)


def test_a_scalar_baseline_gives_no_paired_test() -> None:
    summary = summarize(STRONG_EVAL, ScalarMetrics(CLS, {"auc": 0.7}), AUC_UP)
    assert not summary.paired and summary.verdict is None
    assert summary.baseline_metrics == {"auc": 0.7}
    assert any("scalar metrics only: no paired test" in w for w in summary.warnings)


# --- class balance and the no-ML baseline ----------------------------------------------


def test_class_balance_and_the_prior_baseline() -> None:
    summary = summarize(STRONG_EVAL, None, None)
    positives = int(Y.sum())
    assert (summary.rows, summary.positives, summary.negatives) == (
        len(Y),
        positives,
        len(Y) - positives,
    )
    rate = positives / len(Y)
    assert summary.prior is not None
    assert summary.prior["auc"] == 0.5
    assert summary.prior["ap"] == pytest.approx(rate)
    assert summary.prior["brier"] == pytest.approx(rate * (1 - rate))
    assert summary.prior["log_loss"] == pytest.approx(log_loss(Y, np.full(len(Y), rate)))
    assert summary.band == auc_band(roc_auc_score(Y, STRONG))
    auc = summary.metrics["auc"]
    assert auc is not None and summary.auc_ci is not None
    assert summary.auc_ci.low < auc < summary.auc_ci.high


# --- storage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [
        (STRONG_EVAL, WEAK_EVAL),
        (STRONG_EVAL, None),
        (ScalarMetrics(CLS, {"auc": 0.8}), None),
        (Predictions(CLS, Y, np.log(STRONG / (1 - STRONG))), WEAK_EVAL),
    ],
    ids=["paired", "alone", "scalar", "unbounded scores"],
)
def test_json_round_trip_is_exact_and_json_safe(pair: tuple[object, object]) -> None:
    candidate, baseline = pair
    summary = summarize(candidate, baseline, AUC_UP)  # type: ignore[arg-type]
    data = summary.to_json()
    text = json.dumps(data, allow_nan=False)
    assert Summary.from_json(json.loads(text)) == summary


def test_non_finite_scalar_metrics_are_stored_as_null() -> None:
    summary = summarize(ScalarMetrics(CLS, {"auc": math.nan, "brier": 0.2}), None, None)
    data = json.loads(json.dumps(summary.to_json(), allow_nan=False))
    assert data["metrics"] == {"auc": None, "brier": 0.2}

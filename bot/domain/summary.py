"""A metric summary: one evaluation, against the project's baseline on the same rows (SPEC §5).

Decisions, in one place:

- The verdict is on the success criterion's metric (default: AUC, higher is better, for
  classification; RMSE, lower is better, for regression) at α = 0.05: ΔAUC by DeLong's
  p-value, every other metric by its CI excluding 0. Which way is better comes from the
  metric (``LOWER_IS_BETTER``), not from the criterion.
- The criterion is met when the verdict is ``better`` AND the point improvement in the
  criterion's direction is at least ``min_delta``: significantly better, and by enough to
  matter. A verdict of ``no significant difference`` never meets it.
- Intervals need at least ``MIN_PER_CLASS`` positives and negatives (``MIN_ROWS`` rows for
  regression). DeLong's variance exists from 2 of each, but with fewer than 10 its normal
  interval is not trustworthy; below that the summary shows point values only, with a
  warning, and gives no verdict (``verdict`` None while ``paired`` is True).
- Scalar metrics are shown and never called significant; a scalar baseline gives no test.
- The no-ML baseline (``prior``) is the candidate's labels scored by a constant: the positive
  rate (AUC 0.5, AP = the rate, log loss/Brier of the rate) or, for regression, the mean (R² 0).

This module computes the summary (:func:`summarize`). The :class:`Summary` value and its
JSON form are in :mod:`bot.domain.summary_json`, the readings (AUC band, verdict,
criterion) in :mod:`bot.domain.readings`, pairing rows with the baseline's in
:mod:`bot.domain.pairing`; their public names are importable from here too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bot.domain.evaluation import Evaluation, FloatArray, Kind, Predictions, ScalarMetrics
from bot.domain.model import LOWER_IS_BETTER, Direction, SuccessCriterion
from bot.domain.pairing import align
from bot.domain.readings import (
    ALPHA,
    Verdict,
    _criterion_met,
    auc_band,
    default_criterion,
    verdict_of,
)
from bot.domain.stats import (
    Delta,
    classification_metrics,
    compare_classification,
    delong_auc,
    is_probability,
    paired_regression,
    regression_metrics,
)
from bot.domain.summary_json import Summary, _numbers

__all__ = [
    "ALPHA",
    "BASELINE_NOT_PROBABILITIES",
    "LEAKAGE_AUC",
    "MIN_PER_CLASS",
    "MIN_ROWS",
    "NOT_PROBABILITIES",
    "SCALAR_BASELINE",
    "SCALAR_ONLY",
    "Summary",
    "Verdict",
    "align",
    "auc_band",
    "default_criterion",
    "summarize",
    "verdict_of",
]

MIN_PER_CLASS = 10
MIN_ROWS = 10
LEAKAGE_AUC = 0.99

SCALAR_ONLY = "Scalar metrics only: shown, but never called significant (no rows to test on)."
SCALAR_BASELINE = "The baseline has scalar metrics only: no paired test."
NOT_PROBABILITIES = (
    "Some scores are outside [0, 1], so log loss, Brier, accuracy and F1 are not shown."
)
BASELINE_NOT_PROBABILITIES = (
    "The baseline's scores are outside [0, 1], so log loss, Brier, accuracy and F1"
    " are not compared."
)


def summarize(
    candidate: Evaluation,
    baseline: Evaluation | None,
    criterion: SuccessCriterion | None,
    *,
    seed: int = 0,
) -> Summary:
    """The summary of ``candidate``, paired against ``baseline`` when they share rows."""
    criterion = criterion or default_criterion(candidate.kind)
    notes: list[str] = []
    if baseline is not None and baseline.kind is not candidate.kind:
        notes.append(
            f"The baseline is a {baseline.kind} evaluation and this one {candidate.kind}:"
            " nothing to compare."
        )
        baseline = None
    if isinstance(candidate, ScalarMetrics):
        notes.append(SCALAR_ONLY)
        metrics = _numbers(candidate.metrics)
        return _finish(
            Summary(
                kind=candidate.kind,
                rows=None,
                positives=None,
                negatives=None,
                metrics=metrics,
                auc_ci=None,
                band=None,
                baseline_metrics=_own_metrics(baseline),
                deltas={},
                paired=False,
                criterion_metric=criterion.metric,
                verdict=None,
                criterion_met=None,
                warnings=(),
            ),
            criterion,
            notes,
        )
    pair: tuple[FloatArray, FloatArray, FloatArray] | None = None
    if isinstance(baseline, ScalarMetrics):
        notes.append(SCALAR_BASELINE)
    elif baseline is not None:
        aligned = align(candidate, baseline)
        if isinstance(aligned, str):
            notes.append(aligned)
        else:
            pair = aligned
    if candidate.kind is Kind.CLASSIFICATION:
        summary = _classification(candidate, baseline, pair, criterion, seed, notes)
    else:
        summary = _regression(candidate, baseline, pair, criterion, notes)
    return _finish(summary, criterion, notes)


def _own_metrics(evaluation: Evaluation | None) -> dict[str, float | None] | None:
    """An unpaired evaluation's own metrics, on its own rows."""
    if evaluation is None:
        return None
    if isinstance(evaluation, ScalarMetrics):
        return _numbers(evaluation.metrics)
    if evaluation.kind is Kind.CLASSIFICATION:
        return classification_metrics(evaluation.y_true, evaluation.score)
    return dict(regression_metrics(evaluation.y_true, evaluation.score))


def _classification(
    candidate: Predictions,
    baseline: Evaluation | None,
    pair: tuple[FloatArray, FloatArray, FloatArray] | None,
    criterion: SuccessCriterion,
    seed: int,
    notes: list[str],
) -> Summary:
    y = candidate.y_true
    positives = int(np.count_nonzero(y == 1.0))
    negatives = candidate.rows - positives
    enough = positives >= MIN_PER_CLASS and negatives >= MIN_PER_CLASS
    deltas: dict[str, Delta] = {}
    baseline_metrics: dict[str, float | None] | None
    if pair is not None:
        comparison = compare_classification(*pair, seed=seed, alpha=ALPHA)
        metrics, baseline_metrics = comparison.candidate, comparison.baseline
        auc = comparison.candidate_auc
        deltas = comparison.deltas
        if not is_probability(pair[2]):
            notes.append(BASELINE_NOT_PROBABILITIES)
    else:
        metrics = classification_metrics(y, candidate.score)
        baseline_metrics = _own_metrics(baseline)
        auc = delong_auc(y, candidate.score, ALPHA) if positives and negatives else None
    if not is_probability(candidate.score):
        notes.insert(0, NOT_PROBABILITIES)
    if not enough:
        notes.append(
            f"Only {_count(positives, 'positive')} and {_count(negatives, 'negative')}:"
            f" intervals need at least {MIN_PER_CLASS} of each, so none are shown and"
            " nothing is called significant."
        )
        deltas = {name: replace(d, ci=None, p_value=None) for name, d in deltas.items()}
    rate = positives / candidate.rows if candidate.rows else 0.0
    prior = classification_metrics(y, np.full(candidate.rows, rate))
    return Summary(
        kind=Kind.CLASSIFICATION,
        rows=candidate.rows,
        positives=positives,
        negatives=negatives,
        metrics=metrics,
        auc_ci=auc.ci if auc is not None and enough else None,
        band=None,
        baseline_metrics=baseline_metrics,
        deltas=deltas,
        paired=pair is not None,
        criterion_metric=criterion.metric,
        verdict=None,
        criterion_met=None,
        warnings=(),
        prior={k: v for k, v in prior.items() if v is not None},
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _regression(
    candidate: Predictions,
    baseline: Evaluation | None,
    pair: tuple[FloatArray, FloatArray, FloatArray] | None,
    criterion: SuccessCriterion,
    notes: list[str],
) -> Summary:
    y = candidate.y_true
    metrics: dict[str, float | None] = dict(regression_metrics(y, candidate.score))
    deltas: dict[str, Delta] = {}
    baseline_metrics = _own_metrics(baseline)
    if pair is not None:
        deltas = paired_regression(*pair, alpha=ALPHA)
        baseline_metrics = dict(regression_metrics(pair[0], pair[2]))
    if candidate.rows < MIN_ROWS:
        notes.append(
            f"Only {candidate.rows} rows: intervals need at least {MIN_ROWS}, so none are"
            " shown and nothing is called significant."
        )
        deltas = {name: replace(d, ci=None, p_value=None) for name, d in deltas.items()}
    prior = regression_metrics(y, np.full(candidate.rows, float(y.mean())))
    return Summary(
        kind=Kind.REGRESSION,
        rows=candidate.rows,
        positives=None,
        negatives=None,
        metrics=metrics,
        auc_ci=None,
        band=None,
        baseline_metrics=baseline_metrics,
        deltas=deltas,
        paired=pair is not None,
        criterion_metric=criterion.metric,
        verdict=None,
        criterion_met=None,
        warnings=(),
        prior=prior,
    )


def _finish(summary: Summary, criterion: SuccessCriterion, notes: list[str]) -> Summary:
    """Add the AUC reading, the leakage warning, the verdict and the criterion."""
    auc = summary.metrics.get("auc")
    band = auc_band(auc) if auc is not None else None
    if auc is not None and auc >= LEAKAGE_AUC:
        notes.insert(
            0,
            f"AUC {auc:.4f} ≥ {LEAKAGE_AUC}: likely leakage — check for a feature derived"
            " from the label.",
        )
    lower_is_better = criterion.metric in LOWER_IS_BETTER
    if (criterion.direction is Direction.LOWER) != lower_is_better:
        better = "lower" if lower_is_better else "higher"
        notes.append(
            f"The success criterion asks for {criterion.metric} to go {criterion.direction},"
            f" but {better} {criterion.metric} is better: it cannot be met as written."
        )
    verdict: Verdict | None = None
    met: bool | None = None
    if summary.paired:
        delta = summary.deltas.get(criterion.metric)
        if delta is None or delta.delta is None:
            notes.append(
                f"The success criterion's metric ({criterion.metric}) is not available for"
                " this evaluation: no verdict."
            )
        else:
            verdict = verdict_of(delta)
            met = _criterion_met(delta, verdict, criterion) if verdict is not None else None
    return replace(summary, band=band, verdict=verdict, criterion_met=met, warnings=tuple(notes))

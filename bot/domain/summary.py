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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from bot.domain.evaluation import (
    Evaluation,
    FloatArray,
    Kind,
    Predictions,
    ScalarMetrics,
    StrArray,
)
from bot.domain.model import LOWER_IS_BETTER, Direction, SuccessCriterion
from bot.domain.stats import (
    Delta,
    IntArray,
    Interval,
    classification_metrics,
    compare_classification,
    delong_auc,
    is_probability,
    paired_regression,
    regression_metrics,
)

ALPHA = 0.05
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


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "no significant difference"


@dataclass(frozen=True)
class Summary:
    """What a metric summary shows; ``to_json`` is what the database stores."""

    kind: Kind
    rows: int | None  # None for scalar metrics
    positives: int | None
    negatives: int | None
    metrics: dict[str, float | None]  # the candidate's
    auc_ci: Interval | None
    band: str | None  # the AUC reading (SPEC §5)
    baseline_metrics: dict[str, float | None] | None
    deltas: dict[str, Delta]  # empty when not paired
    paired: bool
    criterion_metric: str
    verdict: Verdict | None  # on criterion_metric; None when not paired or not testable
    criterion_met: bool | None
    warnings: tuple[str, ...]
    prior: dict[str, float] | None = None  # the no-ML baseline on the candidate's rows

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (no NaN or inf: such values become null)."""
        return {
            "kind": self.kind.value,
            "rows": self.rows,
            "positives": self.positives,
            "negatives": self.negatives,
            "metrics": _numbers(self.metrics),
            "auc_ci": _interval_json(self.auc_ci),
            "band": self.band,
            "baseline_metrics": (
                _numbers(self.baseline_metrics) if self.baseline_metrics is not None else None
            ),
            "deltas": {name: _delta_json(d) for name, d in self.deltas.items()},
            "paired": self.paired,
            "criterion_metric": self.criterion_metric,
            "verdict": self.verdict.value if self.verdict is not None else None,
            "criterion_met": self.criterion_met,
            "warnings": list(self.warnings),
            "prior": _numbers(self.prior) if self.prior is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """The inverse of :meth:`to_json`."""
        baseline = data.get("baseline_metrics")
        prior = data.get("prior")
        verdict = data.get("verdict")
        return cls(
            kind=Kind(data["kind"]),
            rows=data.get("rows"),
            positives=data.get("positives"),
            negatives=data.get("negatives"),
            metrics=_numbers(data.get("metrics") or {}),
            auc_ci=_interval_from(data.get("auc_ci")),
            band=data.get("band"),
            baseline_metrics=_numbers(baseline) if baseline is not None else None,
            deltas={k: _delta_from(v) for k, v in (data.get("deltas") or {}).items()},
            paired=bool(data.get("paired", False)),
            criterion_metric=str(data["criterion_metric"]),
            verdict=Verdict(verdict) if verdict is not None else None,
            criterion_met=data.get("criterion_met"),
            warnings=tuple(data.get("warnings") or ()),
            prior=(
                {k: float(v) for k, v in prior.items() if _finite(v) is not None}
                if prior is not None
                else None
            ),
        )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _numbers(values: dict[str, Any]) -> dict[str, float | None]:
    return {str(k): _finite(v) for k, v in values.items()}


def _interval_json(ci: Interval | None) -> list[float] | None:
    if ci is None or _finite(ci.low) is None or _finite(ci.high) is None:
        return None
    return [float(ci.low), float(ci.high)]


def _interval_from(data: Any) -> Interval | None:
    return Interval(float(data[0]), float(data[1])) if data is not None else None


def _delta_json(d: Delta) -> dict[str, Any]:
    return {
        "metric": d.metric,
        "candidate": _finite(d.candidate),
        "baseline": _finite(d.baseline),
        "delta": _finite(d.delta),
        "ci": _interval_json(d.ci),
        "p_value": _finite(d.p_value),
        "method": d.method,
    }


def _delta_from(data: dict[str, Any]) -> Delta:
    return Delta(
        metric=str(data["metric"]),
        candidate=_finite(data.get("candidate")),
        baseline=_finite(data.get("baseline")),
        delta=_finite(data.get("delta")),
        ci=_interval_from(data.get("ci")),
        p_value=_finite(data.get("p_value")),
        method=str(data["method"]),
    )


# --- readings --------------------------------------------------------------------------


def auc_band(auc: float) -> str:
    """The SPEC's reading of an AUC.

    Below 0.5 worse than chance; 0.5 chance; (0.5, 0.7) poor; [0.7, 0.8) acceptable;
    [0.8, 0.9] excellent; above 0.9 exceptional.
    """
    if abs(auc - 0.5) < 1e-12:
        return "chance"
    if auc < 0.5:
        return "worse than chance"
    if auc < 0.7:
        return "poor"
    if auc < 0.8:
        return "acceptable"
    if auc <= 0.9:
        return "excellent"
    return "exceptional"


def default_criterion(kind: Kind) -> SuccessCriterion:
    """AUC up for classification, RMSE down for regression, by any amount."""
    if kind is Kind.CLASSIFICATION:
        return SuccessCriterion("auc", Direction.HIGHER, 0.0)
    return SuccessCriterion("rmse", Direction.LOWER, 0.0)


def verdict_of(delta: Delta, alpha: float = ALPHA) -> Verdict | None:
    """better / worse / no significant difference for one Delta; None if it has no test.

    DeLong's ΔAUC by p < alpha; every other metric by its CI excluding 0 (the analytic
    intervals' p-values say the same; bootstrap intervals have no p-value).
    """
    if delta.delta is None:
        return None
    if delta.method == "delong":
        if delta.p_value is None:
            return None
        if delta.p_value >= alpha:
            return Verdict.SAME
        went_up = delta.delta > 0.0
    else:
        if delta.ci is None:
            return None
        if not delta.ci.excludes_zero():
            return Verdict.SAME
        went_up = delta.ci.low > 0.0
    improved = went_up != (delta.metric in LOWER_IS_BETTER)
    return Verdict.BETTER if improved else Verdict.WORSE


def _criterion_met(delta: Delta, verdict: Verdict, criterion: SuccessCriterion) -> bool:
    assert delta.delta is not None
    improvement = delta.delta if criterion.direction is Direction.HIGHER else -delta.delta
    # A tolerance so that 0.80 − 0.78 counts as the +0.02 it is meant to be.
    return verdict is Verdict.BETTER and improvement >= criterion.min_delta - 1e-12


# --- pairing ---------------------------------------------------------------------------


def align(
    candidate: Predictions, baseline: Predictions
) -> tuple[FloatArray, FloatArray, FloatArray] | str:
    """(y_true, candidate score, baseline score) on the same rows, or why they cannot pair.

    Matched by id when both have ids (same ids, each once, with the same label); otherwise
    by order, when both hold the same labels in the same order (what the order fingerprint
    hashes). Rows come back in the candidate's order.
    """
    different = "a different held-out set — no paired comparison."
    if candidate.kind is not baseline.kind:
        return (
            f"The baseline is a {baseline.kind} evaluation and this one {candidate.kind}:"
            " no paired comparison."
        )
    if candidate.rows != baseline.rows:
        return (
            f"This evaluation has {candidate.rows:,} rows and the baseline {baseline.rows:,}:"
            f" {different}"
        )
    base_score = baseline.score
    base_labels = baseline.y_true
    if (
        candidate.ids is not None
        and baseline.ids is not None
        and not np.array_equal(candidate.ids, baseline.ids)
    ):
        matched = _match_ids(candidate.ids, baseline.ids)
        if isinstance(matched, str):
            return f"{matched}: {different}"
        base_score, base_labels = baseline.score[matched], baseline.y_true[matched]
    if not np.array_equal(candidate.y_true, base_labels):
        return f"The labels differ from the baseline's: {different}"
    return candidate.y_true, candidate.score, base_score


def _match_ids(ids: StrArray, base_ids: StrArray) -> IntArray | str:
    """For each candidate row, the baseline row with its id; or what is wrong with the ids."""
    order, base_order = np.argsort(ids, kind="stable"), np.argsort(base_ids, kind="stable")
    ordered, base_ordered = ids[order], base_ids[base_order]
    if np.any(ordered[1:] == ordered[:-1]) or np.any(base_ordered[1:] == base_ordered[:-1]):
        return "Some ids repeat, so rows cannot be matched to the baseline's"
    if not np.array_equal(ordered, base_ordered):
        only = sorted(set(ordered.tolist()) - set(base_ordered.tolist()))[:3]
        return f"The ids differ from the baseline's (e.g. {', '.join(map(repr, only))} only here)"
    where = np.empty_like(order)
    where[order] = np.arange(order.shape[0])
    return base_order[where]


# --- summaries -------------------------------------------------------------------------


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

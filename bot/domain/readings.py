"""How a summary reads its numbers: the AUC band, the verdict on a delta, the criterion met.

The rules (α, which way is better, when the criterion is met) are listed with the other
decisions in :mod:`bot.domain.summary`.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.evaluation import Kind
from bot.domain.intervals import Delta
from bot.domain.model import LOWER_IS_BETTER, Direction, SuccessCriterion

ALPHA = 0.05


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "no significant difference"


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

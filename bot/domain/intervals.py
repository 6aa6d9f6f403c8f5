"""Confidence intervals and paired deltas as values, and their normal-theory form.

:class:`Interval` and :class:`Delta` are what every paired comparison returns (see
:mod:`bot.domain.stats`); a delta with a known variance gets its normal CI and two-sided
p-value from :func:`_normal_delta`. Nothing here warns: undefined values are None, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Interval:
    """A confidence interval [low, high]."""

    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


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

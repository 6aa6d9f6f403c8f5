"""A metric summary as a value, and its JSON form (what the database stores).

:meth:`Summary.to_json` writes no NaN or inf (they become null); :meth:`Summary.from_json`
is its inverse. How a summary is computed is in :mod:`bot.domain.summary`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bot.domain.evaluation import Kind
from bot.domain.intervals import Delta, Interval
from bot.domain.readings import Verdict


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

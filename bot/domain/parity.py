"""Parity of a prototype's scores and production's on the same rows: do they agree?"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from bot.domain.errors import ValidationError
from bot.domain.evaluation import FloatArray, Predictions, StrArray


@dataclass(frozen=True)
class Parity:
    """How far production's scores are from the prototype's, row by row."""

    rows: int
    tolerance: float
    threshold: float
    max_abs_delta: float
    beyond: int  # rows with |Δscore| > tolerance
    share_beyond: float
    agreement: float  # share of rows with the same decision (score >= threshold)
    disagreements: int
    passed: bool  # beyond == 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for storage; an infinite gap is stored as the string "inf"
        (JSON has no infinity, and PostgreSQL's JSONB refuses one)."""
        data = asdict(self)
        return {
            k: str(v) if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in data.items()
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Parity:
        """The inverse of :meth:`to_json`."""
        types = {"rows": int, "beyond": int, "disagreements": int, "passed": bool}
        return cls(**{f.name: types.get(f.name, float)(data[f.name]) for f in fields(cls)})


def check_parity(
    prototype: Predictions,
    production: Predictions,
    *,
    tolerance: float = 1e-6,
    threshold: float = 0.5,
) -> Parity:
    """Compare two models' scores on the same rows: by id when both have ids, else by order."""
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValidationError(
            f"The tolerance must be a finite number ≥ 0 (e.g. 1e-6), not {tolerance!r}."
        )
    if not math.isfinite(threshold):
        raise ValidationError(f"The threshold must be a finite number, not {threshold!r}.")
    ours, theirs = _aligned(prototype, production)
    rows = int(ours.shape[0])
    if rows == 0:
        raise ValidationError("The files have no rows to compare.")
    for name, scores in (("prototype", ours), ("production", theirs)):
        if not np.isfinite(scores).all():
            raise ValidationError(f"The {name} scores include NaN or infinite values.")
    with np.errstate(over="ignore"):  # scores near ±1e308 differ by inf: still "beyond"
        delta = np.abs(ours - theirs)
    beyond = int(np.count_nonzero(delta > tolerance))
    disagreements = int(np.count_nonzero((ours >= threshold) != (theirs >= threshold)))
    return Parity(
        rows=rows,
        tolerance=float(tolerance),
        threshold=float(threshold),
        max_abs_delta=float(delta.max()),
        beyond=beyond,
        share_beyond=beyond / rows,
        agreement=(rows - disagreements) / rows,
        disagreements=disagreements,
        passed=beyond == 0,
    )


def _aligned(prototype: Predictions, production: Predictions) -> tuple[FloatArray, FloatArray]:
    """Both score arrays in one row order: the prototype's order, production matched to it."""
    if prototype.ids is None or production.ids is None:
        if prototype.rows != production.rows:
            raise ValidationError(
                f"The prototype has {prototype.rows:,} rows but production has "
                f"{production.rows:,}. Score the same rows in the same order, or give both "
                "files an id column."
            )
        return prototype.score, production.score
    index = _unique_index(prototype.ids, "prototype")
    _unique_index(production.ids, "production")
    position = index.get_indexer(production.ids)
    only_production = production.ids[position < 0]
    only_prototype = prototype.ids[~index.isin(production.ids)]
    if len(only_production) or len(only_prototype):
        parts = [
            f"{len(missing):,} ids of the {side} are not in the {other} (e.g. {_some(missing)})"
            for missing, side, other in (
                (only_prototype, "prototype", "production file"),
                (only_production, "production file", "prototype"),
            )
            if len(missing)
        ]
        raise ValidationError(
            f"The two files do not have the same ids: {'; '.join(parts)}. Score the same "
            "held-out rows with both."
        )
    theirs = np.empty_like(production.score)
    theirs[position] = production.score
    return prototype.score, theirs


def _unique_index(ids: StrArray, side: str) -> pd.Index:
    index = pd.Index(ids.astype(object), dtype=object)
    if not index.is_unique:
        repeated = index[index.duplicated()].unique()
        raise ValidationError(
            f"Ids in the {side} file must be unique; repeated: {_some(repeated)}."
        )
    return index


def _some(values: Any, count: int = 3) -> str:
    return ", ".join(repr(str(value)) for value in list(values[:count]))

"""Evaluations as values: one model's predictions on a held-out set, or scalar metrics alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]


class Kind(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True, eq=False)
class Predictions:
    """Rows of ``y_true`` and a score (classification) or prediction (regression).

    For classification ``y_true`` holds 0.0/1.0 and ``score`` may be a probability or any
    real-valued score (rank metrics need no calibration). ``ids`` are the rows' ids as
    strings, when the file had an ``id`` column.
    """

    kind: Kind
    y_true: FloatArray
    score: FloatArray
    ids: StrArray | None = None

    def __post_init__(self) -> None:
        if self.y_true.shape != self.score.shape or self.y_true.ndim != 1:
            raise ValueError("y_true and score must be 1-d arrays of the same length")
        if self.ids is not None and self.ids.shape != self.y_true.shape:
            raise ValueError("ids must have one entry per row")

    @property
    def rows(self) -> int:
        return int(self.y_true.shape[0])

    def fingerprint(self) -> str:
        """What identifies the held-out set: its ids with their labels, else labels in order.

        Two evaluations with the same fingerprint were scored on the same rows, so they can
        be compared pair by pair.
        """
        digest = hashlib.sha256(self.kind.value.encode())
        if self.ids is not None:
            order = np.argsort(self.ids, kind="stable")
            digest.update(b"ids\0")
            digest.update("\0".join(self.ids[order].tolist()).encode())
            digest.update(np.ascontiguousarray(self.y_true[order], dtype="<f8").tobytes())
        else:
            digest.update(b"order\0")
            digest.update(np.ascontiguousarray(self.y_true, dtype="<f8").tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class ScalarMetrics:
    """Metrics a pipeline computed itself: shown, never called significant."""

    kind: Kind
    metrics: dict[str, float] = field(default_factory=dict)


Evaluation = Predictions | ScalarMetrics


@dataclass(frozen=True)
class EvaluationRecord:
    """A stored evaluation: where it came from and the summary computed when it arrived."""

    id: int
    experiment_id: int
    experiment_number: int
    kind: Kind
    source: str
    filename: str
    submitted_by: str
    created_at: datetime
    rows: int | None
    fingerprint: str | None
    baseline_id: int | None
    summary: dict[str, Any]


@dataclass(frozen=True)
class Baseline:
    """A project's baseline from ``set_at`` on: one evaluation of one experiment."""

    project: str
    experiment_number: int
    evaluation_id: int
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class ParityRecord:
    id: int
    experiment_id: int
    submitted_by: str
    source: str
    created_at: datetime
    result: dict[str, Any]

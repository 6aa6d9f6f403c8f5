"""Evaluations, project baselines and parity checks: stored rows to domain values and back."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from bot.domain.evaluation import (
    Baseline,
    Evaluation,
    EvaluationRecord,
    Kind,
    ParityRecord,
    Predictions,
    ScalarMetrics,
)
from storage.models import (
    BaselineRow,
    EvaluationRow,
    ExperimentRow,
    ParityRow,
    ProjectRow,
)


@dataclass(frozen=True)
class Packed:
    """A prediction file's rows as stored, made before the write transaction opens.

    Fingerprinting and packing 1M rows take about a second of CPU: inside the transaction
    that second is spent holding SQLite's one write lock, and every ack's INSERT waits.
    """

    rows: int
    fingerprint: str
    data: bytes

    @classmethod
    def of(cls, evaluation: Evaluation) -> Packed | None:
        if not isinstance(evaluation, Predictions):
            return None
        return cls(evaluation.rows, evaluation.fingerprint(), pack(evaluation))


@dataclass(frozen=True)
class Stored:
    """An evaluation as stored: its packed rows, or the scalar metrics it was given.

    Opening a million packed rows is CPU work: it is done where the statistics are
    computed (bot/services/computing.py), not in the transaction that read the bytes.
    """

    kind: Kind
    data: bytes | None
    metrics: dict[str, float]

    def open(self) -> Evaluation:
        if self.data is None:
            return ScalarMetrics(self.kind, dict(self.metrics))
        return unpack(self.kind, self.data)


def pack(predictions: Predictions) -> bytes:
    """The rows as zlib-compressed .npz bytes (no pickles).

    Labels of a classification as bytes, scores as float64 (exactly as given), ids as one
    UTF-8 blob separated by NUL (ingest refuses NUL in ids): at a million rows this packs in
    about 0.4 s, three times faster than numpy's compressed fixed-width unicode.
    """
    labels = predictions.y_true
    arrays: dict[str, Any] = {
        "y_true": labels.astype(np.uint8) if predictions.kind is Kind.CLASSIFICATION else labels,
        "score": predictions.score,
    }
    if predictions.ids is not None:
        blob = "\x00".join(predictions.ids.tolist()).encode("utf-8")
        arrays["ids"] = np.frombuffer(blob, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return zlib.compress(buffer.getvalue(), 1)


def unpack(kind: Kind, data: bytes) -> Predictions:
    with np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False) as arrays:
        ids = None
        if "ids" in arrays.files:
            ids = np.array(arrays["ids"].tobytes().decode("utf-8").split("\x00"), dtype=np.str_)
        return Predictions(
            kind,
            np.ascontiguousarray(arrays["y_true"], dtype=np.float64),
            np.ascontiguousarray(arrays["score"], dtype=np.float64),
            ids,
        )


def _record(row: EvaluationRow, number: int) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        experiment_id=row.experiment_id,
        experiment_number=number,
        kind=Kind(row.kind),
        source=row.source,
        filename=row.filename,
        submitted_by=row.submitted_by,
        created_at=row.created_at,
        rows=row.rows,
        fingerprint=row.fingerprint,
        baseline_id=row.baseline_id,
        summary=dict(row.summary or {}),
    )


class Evaluations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        team_id: str,
        experiment_id: int,
        evaluation: Evaluation,
        *,
        source: str,
        filename: str,
        submitted_by: str,
        now: datetime,
        baseline_id: int | None,
        summary: dict[str, Any],
        packed: Packed | None = None,
    ) -> int:
        """Store an evaluation (its rows as ``packed``, made beforehand when given)."""
        row = EvaluationRow(
            team_id=team_id,
            experiment_id=experiment_id,
            kind=evaluation.kind.value,
            source=source,
            filename=filename[:200],
            submitted_by=submitted_by,
            created_at=now,
            baseline_id=baseline_id,
            summary=summary,
        )
        if isinstance(evaluation, Predictions):
            packed = packed or Packed.of(evaluation)
            assert packed is not None
            row.rows = packed.rows
            row.fingerprint = packed.fingerprint
            row.data = packed.data
        else:
            row.summary = {**summary, "scalar_metrics": dict(evaluation.metrics)}
        self.session.add(row)
        self.session.flush()
        return row.id

    def get(self, evaluation_id: int) -> EvaluationRecord | None:
        found = self.session.execute(
            select(EvaluationRow, ExperimentRow.number)
            .join(ExperimentRow, ExperimentRow.id == EvaluationRow.experiment_id)
            .where(EvaluationRow.id == evaluation_id)
        ).first()
        return _record(found[0], found[1]) if found else None

    def latest(self, experiment_id: int) -> EvaluationRecord | None:
        found = self.session.execute(
            select(EvaluationRow, ExperimentRow.number)
            .join(ExperimentRow, ExperimentRow.id == EvaluationRow.experiment_id)
            .where(EvaluationRow.experiment_id == experiment_id)
            .order_by(EvaluationRow.id.desc())
            .limit(1)
        ).first()
        return _record(found[0], found[1]) if found else None

    def of_experiment(self, experiment_id: int) -> list[EvaluationRecord]:
        """Every evaluation of the experiment (summaries, not rows), oldest first."""
        found = self.session.execute(
            select(EvaluationRow, ExperimentRow.number)
            .join(ExperimentRow, ExperimentRow.id == EvaluationRow.experiment_id)
            .where(EvaluationRow.experiment_id == experiment_id)
            .order_by(EvaluationRow.id)
        ).all()
        return [_record(row, number) for row, number in found]

    def latest_id(self, experiment_id: int) -> int | None:
        return self.session.scalar(
            select(EvaluationRow.id)
            .where(EvaluationRow.experiment_id == experiment_id)
            .order_by(EvaluationRow.id.desc())
            .limit(1)
        )

    def count(self, experiment_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count()).where(EvaluationRow.experiment_id == experiment_id)
            )
            or 0
        )

    def stored(self, evaluation_id: int) -> Stored:
        """The evaluation as stored, to pair a new evaluation with (``.open()`` reads it)."""
        row = self.session.scalars(
            select(EvaluationRow)
            .options(undefer(EvaluationRow.data))
            .where(EvaluationRow.id == evaluation_id)
        ).one()
        metrics = (row.summary or {}).get("scalar_metrics", {}) if row.data is None else {}
        return Stored(Kind(row.kind), row.data, {str(k): float(v) for k, v in metrics.items()})

    # Baselines ----------------------------------------------------------------------------

    def set_baseline(
        self, project_id: int, experiment_id: int, evaluation_id: int, set_by: str, now: datetime
    ) -> None:
        self.session.add(
            BaselineRow(
                project_id=project_id,
                experiment_id=experiment_id,
                evaluation_id=evaluation_id,
                set_by=set_by,
                set_at=now,
            )
        )
        self.session.flush()

    def baselines(self, project_id: int) -> list[Baseline]:
        """The project's baselines, newest first: the first is current."""
        rows = self.session.execute(
            select(BaselineRow, ExperimentRow.number, ProjectRow.slug)
            .join(ExperimentRow, ExperimentRow.id == BaselineRow.experiment_id)
            .join(ProjectRow, ProjectRow.id == BaselineRow.project_id)
            .where(BaselineRow.project_id == project_id)
            .order_by(BaselineRow.id.desc())
        ).all()
        return [
            Baseline(slug, number, row.evaluation_id, row.set_by, row.set_at)
            for row, number, slug in rows
        ]

    def baseline(self, project_id: int) -> Baseline | None:
        history = self.baselines(project_id)
        return history[0] if history else None

    # Parity checks ------------------------------------------------------------------------

    def add_parity(
        self,
        team_id: str,
        experiment_id: int,
        result: dict[str, Any],
        *,
        submitted_by: str,
        source: str,
        now: datetime,
    ) -> int:
        row = ParityRow(
            team_id=team_id,
            experiment_id=experiment_id,
            submitted_by=submitted_by,
            source=source,
            created_at=now,
            result=result,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def latest_parity(self, experiment_id: int) -> ParityRecord | None:
        row = self.session.scalars(
            select(ParityRow)
            .where(ParityRow.experiment_id == experiment_id)
            .order_by(ParityRow.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return ParityRecord(
            row.id, row.experiment_id, row.submitted_by, row.source, row.created_at, row.result
        )

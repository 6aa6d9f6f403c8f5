"""Evaluation files (CSV, Parquet, JSON) read into validated values, or a refusal saying why.

Every mistake in a file raises :class:`ValidationError` with a message for the person who
uploaded it; nothing else escapes for any input bytes. Rows are numbered from 1 after the
header ("data row 3"). Column names match case-insensitively after stripping spaces;
columns other than ``id``, ``y_true``, ``y_score`` and ``y_pred`` are ignored. Ids are read
as text ("007" stays "007"), stripped of surrounding spaces.

This module holds the entry points, recognises the format from the content and decides the
kind of model; reading CSV, Parquet and JSON into columns is in
:mod:`bot.domain.ingest_formats`, checking the values (numbers, labels, ids, scalar metrics)
in :mod:`bot.domain.ingest_values`. Their public names are importable from here too.
"""

from __future__ import annotations

import re

import numpy as np

from bot.domain import ingest_formats
from bot.domain.errors import ValidationError
from bot.domain.evaluation import Evaluation, Kind, Predictions
from bot.domain.ingest_formats import (
    MAX_COLUMNS,
    MAX_ROWS,
    _Metrics,
    _read_csv,
    _read_json,
    _read_parquet,
    _Table,
    _too_many_rows,
)
from bot.domain.ingest_values import (
    MAX_ID_LENGTH,
    BoolArray,
    _kind_from,
    check_labels,
    numbers,
    row_ids,
    scalar_metrics,
)

__all__ = [
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ID_LENGTH",
    "MAX_ROWS",
    "SCORE_COLUMN",
    "BoolArray",
    "check_labels",
    "check_pairable_rows",
    "numbers",
    "parse_evaluation",
    "parse_scores",
    "row_ids",
    "scalar_metrics",
]

MAX_BYTES: int = 100 * 1024 * 1024
"""Largest file accepted (100 MiB): a 1M-row CSV of id, y_true, y_score is ~35 MB."""

SCORE_COLUMN = {Kind.CLASSIFICATION: "y_score", Kind.REGRESSION: "y_pred"}
_PARQUET_MAGIC = b"PAR1"
_BOM = b"\xef\xbb\xbf"
_JSON_START = re.compile(r"\s*[\[{]")
# Signatures of files people upload by mistake, named so the refusal can say what to do.
_FOREIGN = (
    (b"PK\x03\x04", "an Excel workbook or a zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)


def parse_evaluation(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    kind: Kind | None = None,
) -> Evaluation:
    """Read a predictions file (or scalar-metrics JSON) and validate it, or refuse it."""
    loaded = _load(data, filename, content_type)
    if isinstance(loaded, _Metrics):
        return scalar_metrics(loaded.metrics, explicit=kind, declared=loaded.declared_kind)
    chosen = _decide_kind(loaded, kind)
    score_name = SCORE_COLUMN[chosen]
    _require(loaded, ("y_true", score_name), hint=f"y_true and {score_name}")
    _require_rows(loaded, 2)
    classification = chosen is Kind.CLASSIFICATION
    y_true = numbers(loaded.columns["y_true"], "y_true", booleans=classification)
    score = numbers(loaded.columns[score_name], score_name)
    ids = row_ids(loaded.columns.get("id"))
    if classification:
        check_labels(y_true)
    return Predictions(chosen, y_true, score, ids)


def parse_scores(
    data: bytes, *, filename: str | None = None, content_type: str | None = None
) -> Predictions:
    """Read one side of a parity check: a score column (``y_score`` or ``y_pred``), optional ids.

    Only scores and ids matter for parity, so ``y_true`` is not read even when present: the
    value returned carries zeros as labels and must not be stored as an evaluation.
    """
    loaded = _load(data, filename, content_type)
    if isinstance(loaded, _Metrics):
        raise ValidationError(
            "A parity check compares scores row by row, so it needs a file of per-row scores "
            "(a y_score or y_pred column), not summary metrics."
        )
    present = [name for name in ("y_score", "y_pred") if name in loaded.columns]
    if len(present) == 2:
        raise ValidationError(
            "The file has both y_score and y_pred columns, so it is unclear which one to "
            "compare. Keep only the model's score column."
        )
    if not present:
        _require(loaded, ("y_score",), hint="a y_score (or y_pred) column")
    _require_rows(loaded, 1)
    score = numbers(loaded.columns[present[0]], present[0])
    chosen = Kind.CLASSIFICATION if present[0] == "y_score" else Kind.REGRESSION
    ids = row_ids(loaded.columns.get("id"))
    return Predictions(chosen, np.zeros_like(score), score, ids)


def check_pairable_rows(
    candidate: Evaluation,
    baseline: Evaluation | None,
    *,
    candidate_name: str = "This evaluation",
    baseline_name: str = "the baseline",
) -> None:
    """Refuse predictions that cannot be paired with the baseline's: other rows or other kind.

    Scalar metrics and a missing baseline pair with anything (nothing row-wise is compared).
    """
    if not isinstance(candidate, Predictions) or not isinstance(baseline, Predictions):
        return
    if candidate.kind is not baseline.kind:
        raise ValidationError(
            f"{candidate_name} is a {candidate.kind.value} evaluation but {baseline_name} is "
            f"{baseline.kind.value}: they cannot be compared. Check the kind of model."
        )
    if candidate.rows != baseline.rows:
        raise ValidationError(
            f"{candidate_name} has {candidate.rows:,} rows but {baseline_name} has "
            f"{baseline.rows:,}: evaluate on the same held-out set as the baseline (or, for a"
            " new held-out set, record it with --new-holdout and make it the baseline)."
        )


def _decide_kind(table: _Table, explicit: Kind | None) -> Kind:
    if explicit is not None:
        return explicit
    if table.declared_kind is not None:
        return _kind_from(table.declared_kind)
    has_score, has_pred = "y_score" in table.columns, "y_pred" in table.columns
    if has_score and has_pred:
        raise ValidationError(
            "The file has both y_score and y_pred columns, so the kind of model is ambiguous. "
            "Say which it is (classification or regression) or keep only one of them."
        )
    if has_pred:
        return Kind.REGRESSION
    if not has_score:
        _require(table, ("y_true", "y_score"), hint="y_true and y_score (or y_pred)")
    return Kind.CLASSIFICATION


def _require(table: _Table, names: tuple[str, ...], *, hint: str) -> None:
    missing = [name for name in names if name not in table.columns]
    if missing:
        shown = ", ".join(repr(name[:40]) for name in table.found[:8]) or "none"
        more = f" and {len(table.found) - 8} more" if len(table.found) > 8 else ""
        raise ValidationError(
            f"The file has no {' and no '.join(missing)} column. It needs {hint} (id is "
            f"optional); columns found: {shown}{more}."
        )


def _require_rows(table: _Table, least: int) -> None:
    if table.rows < least:
        raise ValidationError(
            f"The file has {table.rows} data row{'s' * (table.rows != 1)}; at least {least} "
            "are needed (one per held-out example, below a header row)."
        )


def _load(data: bytes, filename: str | None, content_type: str | None) -> _Table | _Metrics:
    """Recognise the format from the content (the name and type only help the messages)."""
    loaded = _read(data, filename, content_type)
    # The limit is read where it lives, so one setting governs every format.
    if isinstance(loaded, _Table) and loaded.rows > ingest_formats.MAX_ROWS:
        raise ValidationError(_too_many_rows(loaded.rows))
    return loaded


def _read(data: bytes, filename: str | None, content_type: str | None) -> _Table | _Metrics:
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"The file is {len(data) / 2**20:,.1f} MB; the limit is {MAX_BYTES // 2**20} MB. "
            "Keep only the id, y_true and y_score (or y_pred) columns, or use fewer rows."
        )
    if not data or data.isspace():
        raise ValidationError(
            "The file is empty: upload the model's predictions on the held-out set."
        )
    if data.startswith(_PARQUET_MAGIC):
        return _read_parquet(data)
    for magic, what in _FOREIGN:
        if data.startswith(magic):
            raise ValidationError(
                f"The file looks like {what}. Upload a CSV (UTF-8), Parquet or JSON file."
            )
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        said = _hinted_format(filename, content_type)
        named = f" (named as {said})" if said else ""
        raise ValidationError(
            f"The file{named} could not be read: it is neither UTF-8 text (byte "
            f"0x{body[error.start]:02x} at position {error.start}) nor Parquet. Save it as "
            "CSV (UTF-8), Parquet or JSON."
        ) from None
    if "\x00" in text:
        raise ValidationError(
            "The file contains NUL bytes, so it is not a text file. Upload a CSV (UTF-8), "
            "Parquet or JSON file."
        )
    if _JSON_START.match(text):
        return _read_json(text)
    return _read_csv(body, text)


def _hinted_format(filename: str | None, content_type: str | None) -> str | None:
    hint = f"{filename or ''} {content_type or ''}".lower()
    for word in ("parquet", "csv", "json"):
        if word in hint:
            return word.upper() if word != "parquet" else "Parquet"
    return None

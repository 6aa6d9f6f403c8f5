"""CSV, Parquet and JSON files read into their wanted columns, or a refusal saying why.

Only the columns ``id``, ``y_true``, ``y_score`` and ``y_pred`` are kept, matched
case-insensitively after stripping spaces; two columns that match one name are ambiguous.
Values are not checked here (see :mod:`bot.domain.ingest_values`); a JSON document of scalar
metrics is passed on unchecked. The format is recognised in :mod:`bot.domain.ingest`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bot.domain.errors import ValidationError

MAX_COLUMNS: int = 10_000
"""Widest CSV accepted: extra columns are read (to check each row's fields), then ignored."""
MAX_ROWS: int = 10_000_000
"""Most rows accepted, whatever the format (memory: ~30 bytes a row while computing)."""

_WANTED = ("id", "y_true", "y_score", "y_pred")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_LONG_ROWS = (
    "The first data row has more fields than the header's {fields} (a trailing comma?). "
    "Give every row exactly one value per header column."
)


@dataclass(frozen=True)
class _Table:
    """The wanted columns of a file, by normalised name, and every name found (for messages)."""

    rows: int
    columns: dict[str, pd.Series]
    found: tuple[str, ...]
    declared_kind: object = None


@dataclass(frozen=True)
class _Metrics:
    """A scalar-metrics JSON document, not yet checked."""

    declared_kind: object
    metrics: object


def _normalise(name: object) -> str:
    return str(name).strip().lower()


def _wanted_positions(names: list[str]) -> dict[str, int]:
    """Where each wanted column is; two columns with one normalised name are ambiguous."""
    positions: dict[str, int] = {}
    for index, raw in enumerate(names):
        name = _normalise(raw)
        if name not in _WANTED:
            continue
        if name in positions:
            raise ValidationError(
                f"The file has more than one {name} column ({names[positions[name]]!r} and "
                f"{raw!r}), so it is ambiguous which to use. Keep one of them."
            )
        positions[name] = index
    return positions


def _read_csv(body: bytes, text: str) -> _Table:
    header = _csv_header(text)
    positions = _wanted_positions(header)
    if not positions:
        return _Table(rows=0, columns={}, found=tuple(header))
    # Our own names: pandas would rename repeated ones and could not be told which is which.
    labels = [f"c{index}" for index in range(len(header))]
    wanted = {name: labels[index] for name, index in positions.items()}
    frame = _pandas_csv(body, labels)
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        raise ValidationError(_LONG_ROWS.format(fields=len(header)))
    columns = {name: frame[label] for name, label in wanted.items()}
    ids = columns.get("id")
    # Letting pandas infer types is ~5x faster than asking for text, and text it keeps
    # verbatim; ids it took for numbers ("007" -> 7) are read again, as text.
    if ids is not None and pd.api.types.infer_dtype(ids, skipna=False) != "string":
        columns["id"] = _pandas_csv(body, labels, text_column=wanted["id"])[wanted["id"]]
    return _Table(rows=len(frame), columns=columns, found=tuple(header))


def _pandas_csv(body: bytes, labels: list[str], text_column: str | None = None) -> Any:
    """All columns (so a row with too many fields is an error), or one column as text."""
    try:
        return pd.read_csv(
            io.BytesIO(body),
            engine="c",
            header=0,
            names=labels,
            usecols=[text_column] if text_column else None,
            dtype={text_column: str} if text_column else None,
            # Empty and "NA" cells stay text, so they are reported (and "NA" can be an id).
            na_filter=False,
            # Inferred types are decided in one pass (no DtypeWarning about chunks of mixed
            # types); text needs no inference, and chunks read it faster.
            low_memory=text_column is not None,
            encoding="utf-8",
        )
    except (ValueError, csv.Error, OverflowError) as error:  # pandas' ParserError is a ValueError
        raise ValidationError(
            f"The file could not be read as CSV: {str(error).strip()[:200]}. Check that every "
            "row has as many comma-separated fields as the header and that quotes are closed."
        ) from None


def _csv_header(text: str) -> list[str]:
    """The header's fields; refuses a first data row longer than the header.

    pandas would silently take the extra leading fields of such a file as its index and
    shift every column, so that case is caught here; later long rows make pandas fail.
    """
    records: list[list[str]] = []
    try:
        # Lines are cut lazily: a StringIO of the whole text would copy it (4 bytes a char).
        lines = (match.group() for match in _LINE.finditer(text))
        for record in csv.reader(lines):
            if record:
                records.append(record)
            if len(records) == 2:
                break
    except csv.Error as error:
        raise ValidationError(f"The start of the file could not be read as CSV: {error}.") from None
    if not records:
        raise ValidationError("The file has no header row: the first line must name the columns.")
    header = records[0]
    if len(header) > MAX_COLUMNS:
        raise ValidationError(
            f"The file has {len(header):,} columns; at most {MAX_COLUMNS:,} are read. Keep "
            "the id, y_true and y_score (or y_pred) columns."
        )
    if len(header) == 1:
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if separator in header[0]:
                raise ValidationError(
                    f"The header seems to separate columns with {name}; mlgov reads "
                    "comma-separated files. Save it as CSV with commas."
                )
    if len(records) == 2 and len(records[1]) > len(header):
        raise ValidationError(_LONG_ROWS.format(fields=len(header)))
    return header


def _read_parquet(data: bytes) -> _Table:
    try:
        import pyarrow.parquet as pq

        # Parquet compresses well: a few kilobytes can hold millions of rows. Count first.
        declared = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        if declared > MAX_ROWS:
            raise ValidationError(_too_many_rows(declared))
        frame = pd.read_parquet(io.BytesIO(data))
        if any(name is not None for name in frame.index.names):
            frame = frame.reset_index()  # an id written as the index (df.set_index("id"))
    # pyarrow's errors derive from these built-ins (ArrowInvalid is a ValueError, ...).
    except (ValueError, OSError, TypeError, KeyError, IndexError, NotImplementedError) as error:
        raise ValidationError(
            f"The Parquet file could not be read ({str(error).strip()[:200]}). Write it again, "
            "e.g. with pandas.DataFrame.to_parquet, or upload a CSV."
        ) from None
    names = [str(name) for name in frame.columns]
    positions = _wanted_positions(names)
    columns = {name: frame.iloc[:, index] for name, index in positions.items()}
    return _Table(rows=len(frame), columns=columns, found=tuple(names))


def _too_many_rows(rows: int) -> str:
    return (
        f"The file has {rows:,} rows; the limit is {MAX_ROWS:,}. Evaluate on a sample of the"
        " held-out set (the same sample for the baseline)."
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object with normalised keys; two keys that normalise alike are ambiguous."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        name = _normalise(key)
        if name in result:
            raise ValidationError(
                f"The JSON has the key {name!r} twice in one object, so it is ambiguous. "
                "Keep one of them."
            )
        result[name] = value
    return result


def _read_json(text: str) -> _Table | _Metrics:
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"The file is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except RecursionError:
        raise ValidationError("The JSON is nested too deeply to be an evaluation.") from None
    if isinstance(document, dict):
        if "metrics" in document:
            return _Metrics(declared_kind=document.get("kind"), metrics=document["metrics"])
        return _json_columns(document)
    if isinstance(document, list):
        return _json_records(document)
    raise ValidationError(
        'The JSON must be an object of columns ({"y_true": [...], "y_score": [...]}), a '
        'list of rows ([{"y_true": 1, "y_score": 0.8}, ...]) or {"kind": ..., "metrics": {...}}.'
    )


def _json_columns(document: dict[str, Any]) -> _Table:
    columns: dict[str, pd.Series] = {}
    for name in _WANTED:
        if name not in document:
            continue
        values = document[name]
        if not isinstance(values, list):
            raise ValidationError(f"In the JSON, {name} must be a list of values, one per row.")
        columns[name] = pd.Series(values, dtype=object)
    lengths = {name: len(series) for name, series in columns.items()}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValidationError(
            f"The JSON columns differ in length ({listing}): give one value per row in each."
        )
    rows = next(iter(lengths.values()), 0)
    return _Table(rows, columns, tuple(document), declared_kind=document.get("kind"))


def _json_records(records: list[Any]) -> _Table:
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ValidationError(
                f"Row {number} of the JSON list is not an object: each row must look like "
                '{"y_true": 1, "y_score": 0.8}.'
            )
    present = {name for record in records for name in record if name in _WANTED}
    columns = {
        name: pd.Series([record.get(name) for record in records], dtype=object)
        for name in _WANTED
        if name in present
    }
    return _Table(len(records), columns, tuple(records[0]) if records else ())

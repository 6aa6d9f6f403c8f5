"""Evaluation files (CSV, Parquet, JSON) read into validated values, or a refusal saying why.

Every mistake in a file raises :class:`ValidationError` with a message for the person who
uploaded it; nothing else escapes for any input bytes. Rows are numbered from 1 after the
header ("data row 3"). Column names match case-insensitively after stripping spaces;
columns other than ``id``, ``y_true``, ``y_score`` and ``y_pred`` are ignored. Ids are read
as text ("007" stays "007"), stripped of surrounding spaces.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.domain.errors import ValidationError
from bot.domain.evaluation import (
    Evaluation,
    FloatArray,
    Kind,
    Predictions,
    ScalarMetrics,
    StrArray,
)
from bot.domain.model import KNOWN_METRICS

MAX_BYTES: int = 100 * 1024 * 1024
"""Largest file accepted (100 MiB): a 1M-row CSV of id, y_true, y_score is ~35 MB."""

MAX_COLUMNS: int = 10_000
"""Widest CSV accepted: extra columns are read (to check each row's fields), then ignored."""
MAX_ID_LENGTH: int = 100
"""Longest id accepted, in characters."""

SCORE_COLUMN = {Kind.CLASSIFICATION: "y_score", Kind.REGRESSION: "y_pred"}
_WANTED = ("id", "y_true", "y_score", "y_pred")
_PARQUET_MAGIC = b"PAR1"
_BOM = b"\xef\xbb\xbf"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_JSON_START = re.compile(r"\s*[\[{]")
_LONG_ROWS = (
    "The first data row has more fields than the header's {fields} (a trailing comma?). "
    "Give every row exactly one value per header column."
)
# Signatures of files people upload by mistake, named so the refusal can say what to do.
_FOREIGN = (
    (b"PK\x03\x04", "an Excel workbook or a zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
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
            f"{baseline.rows:,}: evaluate on the same held-out set as the baseline."
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


def _kind_from(value: object) -> Kind:
    try:
        return Kind(str(value).strip().lower())
    except ValueError:
        raise ValidationError(
            f"Unknown kind {str(value)[:40]!r}: use 'classification' or 'regression'."
        ) from None


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
        frame = pd.read_parquet(io.BytesIO(data))
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


# --- values ------------------------------------------------------------------------------

_CLASSIFICATION_METRICS = frozenset({"auc", "ap", "log_loss", "brier", "accuracy", "f1"})
_REGRESSION_METRICS = KNOWN_METRICS - _CLASSIFICATION_METRICS
# Metric ranges (low, high): a value outside is a typo or a percentage, never a result.
_RANGES: dict[str, tuple[float, float]] = {
    "auc": (0.0, 1.0),
    "ap": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "log_loss": (0.0, math.inf),
    "rmse": (0.0, math.inf),
    "mae": (0.0, math.inf),
    "r2": (-math.inf, 1.0),
}
BoolArray = npt.NDArray[np.bool_]
_NAN_WORDS = frozenset({"nan", "-nan", "+nan"})
_NUMERIC_KINDS = frozenset({"floating", "integer", "mixed-integer-float"})


def numbers(series: pd.Series, name: str, *, booleans: bool = False) -> FloatArray:
    """A column as finite float64, or a refusal naming the first bad row and its value.

    ``booleans`` lets true/false stand for 1/0 (classification labels only).
    """
    dtype = series.dtype
    empty = not_number = None
    if pd.api.types.is_bool_dtype(dtype) and booleans:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(dtype) and not (
        pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype)
    ):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values, empty, not_number = _numbers_from_objects(series, booleans=booleans)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        if empty is not None and empty[row]:
            what = "empty"
        elif not_number is not None and not_number[row]:
            what = f"{str(series.iloc[row])[:30]!r}, not a number"
        else:
            what = "missing or NaN" if np.isnan(values[row]) else "infinite (or too large)"
        _refuse_value(name, row, what, int(np.count_nonzero(bad)), booleans)
    return np.ascontiguousarray(values, dtype=np.float64)


def _numbers_from_objects(
    series: pd.Series, *, booleans: bool
) -> tuple[FloatArray, BoolArray | None, BoolArray | None]:
    """Text or mixed values (CSV cells pandas kept as text, JSON values), with what was wrong.

    Returns the values (NaN where unreadable) and which rows were empty or not numbers.
    """
    if pd.api.types.infer_dtype(series, skipna=False) in _NUMERIC_KINDS:
        try:
            return series.to_numpy(dtype=np.float64), None, None
        except OverflowError:  # an integer beyond float range: the text path says which row
            pass
    text, empty = _as_text(series)
    text = text.str.lower()
    if booleans:
        text = text.replace({"true": "1", "false": "0"})
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    not_number = np.isnan(values) & ~empty & ~text.isin(_NAN_WORDS).to_numpy(dtype=bool)
    return values, empty, not_number


def _as_text(series: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Values as stripped text, and which were empty (missing, or blank)."""
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        series = series.astype(object).where(~missing, "")
    try:
        text = series.astype(str).str.strip()
    except RecursionError:  # str() of a JSON value nested almost as deep as json allows
        raise ValidationError(
            "A value in the file is nested too deeply to be a number or an id."
        ) from None
    return text, missing | (text == "").to_numpy(dtype=bool)


def _refuse_value(name: str, row: int, what: str, count: int, booleans: bool) -> None:
    others = f" ({_rows(count)} in all)" if count > 1 else ""
    allowed = "0/1 (or true/false)" if booleans else "a finite number"
    raise ValidationError(
        f"{name} in data row {row + 1} is {what}{others}. Every row needs {allowed} in {name}."
    )


def check_labels(y_true: FloatArray) -> None:
    """Classification labels must be 0/1, with both classes present."""
    bad = (y_true != 0.0) & (y_true != 1.0)
    if bad.any():
        found = np.unique(y_true[bad])
        shown = ", ".join(f"{value:g}" for value in found[:5]) + (", …" if len(found) > 5 else "")
        raise ValidationError(
            f"For classification, y_true must be 0 or 1 (true/false also work); found {shown} "
            f"in {_rows(int(np.count_nonzero(bad)))}, first in data row "
            f"{int(np.argmax(bad)) + 1}. For a regression model, name the prediction column y_pred."
        )
    positives = int(np.count_nonzero(y_true))
    if positives in (0, y_true.shape[0]):
        only = "1" if positives else "0"
        raise ValidationError(
            f"y_true is {only} in every row: AUC needs both classes, so the held-out set must "
            "contain some 0s and some 1s."
        )


def row_ids(series: pd.Series | None) -> StrArray | None:
    """Ids as text, each present, short and unique, or None when the file has no id column."""
    if series is None:
        return None
    text, empty = _as_text(series)
    if empty.any():
        count = int(empty.sum())
        raise ValidationError(
            f"The id in data row {int(np.argmax(empty)) + 1} is empty"
            f"{f' ({_rows(count)} in all)' if count > 1 else ''}. Give every row a unique id, "
            "or leave out the id column."
        )
    # Ids become a fixed-width array, as wide as the longest id in every row: keep them short.
    lengths = text.str.len().to_numpy(dtype=np.int64)
    if lengths.max(initial=0) > MAX_ID_LENGTH:
        raise ValidationError(
            f"The id in data row {int(np.argmax(lengths > MAX_ID_LENGTH)) + 1} is "
            f"{int(lengths.max()):,} characters long; ids may have at most {MAX_ID_LENGTH}."
        )
    if text.str.contains("\x00", regex=False).any():  # NumPy's text arrays drop trailing NULs
        raise ValidationError("Ids must not contain NUL characters.")
    objects = text.to_numpy(dtype=object)
    if not pd.Index(objects, dtype=object).is_unique:
        shown = ", ".join(repr(value[:40]) for value in text[text.duplicated()].unique()[:5])
        raise ValidationError(
            f"Ids must be unique, but some appear more than once: {shown}. Give every row "
            "its own id."
        )
    ids: StrArray = objects.astype(np.str_)
    return ids


def scalar_metrics(raw: object, *, explicit: Kind | None, declared: object) -> ScalarMetrics:
    """Check a metrics object: known names of one kind, finite values in range."""
    if not isinstance(raw, dict) or not raw:
        raise ValidationError(
            'The "metrics" must be an object of metric names and values, e.g. '
            '{"auc": 0.81, "log_loss": 0.4}.'
        )
    unknown = sorted(name for name in raw if name not in KNOWN_METRICS)
    if unknown:
        raise ValidationError(
            f"Unknown metric{'s' * (len(unknown) > 1)} "
            f"{', '.join(repr(name[:40]) for name in unknown[:5])}. "
            f"Known metrics: {', '.join(sorted(KNOWN_METRICS))}."
        )
    if explicit is not None:
        kind = explicit
    elif declared is not None:
        kind = _kind_from(declared)
    else:
        kind = Kind.REGRESSION if set(raw) <= _REGRESSION_METRICS else Kind.CLASSIFICATION
    allowed = _CLASSIFICATION_METRICS if kind is Kind.CLASSIFICATION else _REGRESSION_METRICS
    wrong = sorted(set(raw) - allowed)
    if wrong:
        raise ValidationError(
            f"{', '.join(wrong)} {'is not a' if len(wrong) == 1 else 'are not'} "
            f"{kind.value} metric{'s' * (len(wrong) > 1)}; {kind.value} metrics are "
            f"{', '.join(sorted(allowed))}."
        )
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"Metric {name} must be a number, not {str(value)[:30]!r}.")
        number = _as_float(value)
        low, high = _RANGES[name]
        if not (math.isfinite(number) and low <= number <= high):
            span = (
                f"between {low:g} and {high:g}"
                if math.isfinite(low + high)
                else (f"at least {low:g}" if math.isfinite(low) else f"at most {high:g}")
            )
            raise ValidationError(
                f"Metric {name} is {str(value)[:30]}; it must be a finite number {span}."
            )
        metrics[name] = number
    return ScalarMetrics(kind, metrics)


def _as_float(value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond float range
        return math.inf
    return number


def _rows(count: int) -> str:
    return f"{count:,} row{'s' * (count != 1)}"

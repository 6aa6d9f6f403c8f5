"""The values of an evaluation file checked: numbers, 0/1 labels, ids and scalar metrics.

Every bad value raises :class:`ValidationError` saying what is wrong and what to do; a bad
column names its first bad data row (numbered from 1 after the header) and value. Ids are
read as text ("007" stays "007"), stripped of surrounding spaces.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.domain.errors import ValidationError
from bot.domain.evaluation import FloatArray, Kind, ScalarMetrics, StrArray
from bot.domain.model import KNOWN_METRICS

MAX_ID_LENGTH: int = 100
"""Longest id accepted, in characters."""

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


def _kind_from(value: object) -> Kind:
    try:
        return Kind(str(value).strip().lower())
    except ValueError:
        raise ValidationError(
            f"Unknown kind {str(value)[:40]!r}: use 'classification' or 'regression'."
        ) from None


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
    except UnicodeDecodeError:  # bytes in a Parquet binary column that are not UTF-8
        raise ValidationError(
            f"The column {series.name or 'id'} holds bytes that are not UTF-8 text; write the"
            " ids as text."
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

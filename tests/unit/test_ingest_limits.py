"""Limits and shapes found in review: row counts a small Parquet file can hide, ids written
as a pandas index, ids that are not UTF-8."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bot.domain import ingest_formats
from bot.domain.errors import ValidationError
from bot.domain.evaluation import Predictions
from bot.domain.ingest import parse_evaluation


def parquet(frame: pd.DataFrame, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_a_small_parquet_file_with_too_many_rows_is_refused_before_it_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = 200_000
    data = parquet(pd.DataFrame({"y_true": np.zeros(rows), "y_score": np.zeros(rows)}))
    assert len(data) < 64 * 1024  # compressed: tiny on the wire, large in memory
    monkeypatch.setattr(ingest_formats, "MAX_ROWS", rows - 1)
    monkeypatch.setattr(ingest_formats.pd, "read_parquet", _never)
    with pytest.raises(ValidationError, match="200,000 rows; the limit is 199,999"):
        parse_evaluation(data)


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("the rows were loaded before they were counted")


def test_a_csv_with_too_many_rows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_formats, "MAX_ROWS", 3)
    with pytest.raises(ValidationError, match="4 rows; the limit is 3"):
        parse_evaluation(b"y_true,y_score\n0,0.1\n1,0.9\n0,0.2\n1,0.7\n")
    assert isinstance(parse_evaluation(b"y_true,y_score\n0,0.1\n1,0.9\n0,0.2\n"), Predictions)


def test_ids_written_as_the_parquet_index_are_the_ids() -> None:
    frame = pd.DataFrame(
        {"id": ["a7", "b3", "c9", "d1"], "y_true": [0, 1, 0, 1], "y_score": [0.1, 0.8, 0.3, 0.6]}
    ).set_index("id")
    found = parse_evaluation(parquet(frame))
    assert isinstance(found, Predictions) and found.ids is not None
    assert found.ids.tolist() == ["a7", "b3", "c9", "d1"]


def test_ids_that_are_not_utf8_are_refused_with_a_message() -> None:
    table = pa.table(
        {
            "id": pa.array([b"\xff\xfe", b"ok", b"\x81", b"x"], type=pa.binary()),
            "y_true": [0, 1, 0, 1],
            "y_score": [0.1, 0.8, 0.3, 0.6],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with pytest.raises(ValidationError, match="not UTF-8"):
        parse_evaluation(buffer.getvalue())

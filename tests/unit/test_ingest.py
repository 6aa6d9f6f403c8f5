"""Reading evaluation files: good files in every format give exactly the values written, and
every faulty file is refused with a message saying what is wrong (SPEC §5, §9, §11)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import ingest
from bot.domain.errors import ValidationError
from bot.domain.evaluation import Evaluation, Kind, Predictions, ScalarMetrics
from bot.domain.ingest import (
    MAX_BYTES,
    check_pairable_rows,
    parse_evaluation,
    parse_scores,
)

MODEST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_CSV = b"id,y_true,y_score\na,1,0.9\nb,0,0.2\nc,1,0.35\n"


def refusal(data: bytes, **options: object) -> str:
    """The message of the ValidationError that parsing ``data`` must raise, lower-cased."""
    with pytest.raises(ValidationError) as caught:
        parse_evaluation(data, **options)  # type: ignore[arg-type]
    return str(caught.value).lower()


def predictions(data: bytes, **options: object) -> Predictions:
    result = parse_evaluation(data, **options)  # type: ignore[arg-type]
    assert isinstance(result, Predictions)
    return result


def assert_well_formed(result: Evaluation) -> None:
    """What every consumer of an evaluation relies on."""
    if isinstance(result, ScalarMetrics):
        assert result.metrics and all(math.isfinite(v) for v in result.metrics.values())
        return
    for array in (result.y_true, result.score):
        assert array.dtype == np.float64 and array.flags.c_contiguous
        assert np.isfinite(array).all()
    assert result.rows >= 2
    if result.kind is Kind.CLASSIFICATION:
        assert set(np.unique(result.y_true)) == {0.0, 1.0}
    if result.ids is not None:
        assert result.ids.dtype.kind == "U"
        assert len(set(result.ids.tolist())) == result.rows
        assert all(i and i == i.strip() for i in result.ids.tolist())


# --- good files, every format ---------------------------------------------------------------


def sample_frame(rows: int = 50, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, rows)
    y_true[:2] = [0, 1]
    return pd.DataFrame(
        {
            "id": [f"{i:04d}" for i in range(rows)],
            "feature": rng.normal(size=rows),
            "y_true": y_true,
            "y_score": rng.random(rows),
        }
    )


def assert_matches(result: Predictions, frame: pd.DataFrame, ids: bool = True) -> None:
    np.testing.assert_array_equal(result.y_true, frame["y_true"].to_numpy(dtype=float))
    np.testing.assert_array_equal(result.score, frame["y_score"].to_numpy(dtype=float))
    if ids:
        assert result.ids is not None
        assert result.ids.tolist() == [str(i) for i in frame["id"]]
    assert_well_formed(result)


def test_a_csv_gives_exactly_the_values_written_and_ids_as_text() -> None:
    frame = sample_frame()
    result = predictions(frame.to_csv(index=False).encode())
    assert result.kind is Kind.CLASSIFICATION
    assert_matches(result, frame)
    assert result.ids is not None and result.ids[7] == "0007"  # not the number 7


def test_a_csv_with_bom_crlf_odd_header_case_and_spaces_reads_the_same() -> None:
    frame = sample_frame()
    text = frame.rename(columns={"id": " ID ", "y_true": "Y_True", "y_score": "y_SCORE "}).to_csv(
        index=False, lineterminator="\r\n"
    )
    assert_matches(predictions(b"\xef\xbb\xbf" + text.encode()), frame)


def test_ids_that_look_like_numbers_or_missing_values_stay_as_written() -> None:
    result = predictions(b"id,y_true,y_score\n007,1,0.9\nNA,0,0.2\n7,0,0.1\nnull,1,0.5\n")
    assert result.ids is not None and result.ids.tolist() == ["007", "NA", "7", "null"]
    # Only spaces around an id are dropped.
    spaced = predictions(b"id,y_true,y_score\n  a b ,1,0.9\nc,0,0.2\n")
    assert spaced.ids is not None and spaced.ids.tolist() == ["a b", "c"]


def test_labels_may_be_written_as_booleans_or_floats() -> None:
    result = predictions(b"y_true,y_score\ntrue,0.9\nFALSE,0.2\n1.0,0.3\n0.0,0.4\n")
    assert result.y_true.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert result.ids is None


def test_extra_columns_are_ignored_and_rows_may_end_early_only_in_them() -> None:
    result = predictions(b"y_true,y_score,notes,more\n1,0.9,a,b\n0,0.2\n1,0.3,x\n")
    assert result.y_true.tolist() == [1.0, 0.0, 1.0]
    assert result.score.tolist() == [0.9, 0.2, 0.3]


def test_a_parquet_file_written_by_pandas() -> None:
    frame = sample_frame()
    frame["id"] = np.arange(100, 100 + len(frame))  # integer ids become their text
    frame["y_true"] = frame["y_true"].astype(bool)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    result = predictions(buffer.getvalue(), filename="preds.parquet")
    assert_matches(result, frame)


def test_json_as_columns_and_as_records() -> None:
    frame = sample_frame(rows=20)
    columns = {"id": frame["id"].tolist(), "y_true": frame["y_true"].tolist()}
    columns["y_score"] = frame["y_score"].tolist()
    assert_matches(predictions(json.dumps(columns).encode()), frame)
    records = frame[["id", "y_true", "y_score"]].to_dict("records")
    assert_matches(predictions(json.dumps(records).encode()), frame)


def test_regression_by_y_pred_and_by_explicit_kind() -> None:
    text = b"y_true,y_pred\n1.5,1.25\n-3,-2.5\n1e6,999999.5\n"
    result = predictions(text)
    assert result.kind is Kind.REGRESSION
    assert result.y_true.tolist() == [1.5, -3.0, 1e6]
    assert result.score.tolist() == [1.25, -2.5, 999999.5]
    both = b"y_true,y_score,y_pred\n1,0.9,5\n0,0.2,7\n"
    assert predictions(both, kind=Kind.REGRESSION).score.tolist() == [5.0, 7.0]
    assert predictions(both, kind=Kind.CLASSIFICATION).score.tolist() == [0.9, 0.2]
    declared = b'{"kind": "regression", "y_true": [1, 2], "y_pred": [1.5, 2.5]}'
    assert predictions(declared).kind is Kind.REGRESSION


def test_scalar_metrics_json() -> None:
    result = parse_evaluation(
        b'{"kind": "classification", "metrics": {"AUC": 0.81, "log_loss": 0.4}}'
    )
    assert result == ScalarMetrics(Kind.CLASSIFICATION, {"auc": 0.81, "log_loss": 0.4})
    inferred = parse_evaluation(b'{"metrics": {"rmse": 2, "r2": -0.5}}')
    assert inferred == ScalarMetrics(Kind.REGRESSION, {"rmse": 2.0, "r2": -0.5})


# --- refusals -------------------------------------------------------------------------------


def test_empty_files_are_refused() -> None:
    assert "empty" in refusal(b"")
    assert "empty" in refusal(b" \n\r\n\t")


def test_files_over_the_limit_are_refused_before_reading() -> None:
    message = refusal(b"y" * (MAX_BYTES + 1))
    assert "limit is 100 mb" in message
    assert MAX_BYTES == 100 * 1024 * 1024


def test_the_limit_is_checked_on_the_size_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_BYTES", len(GOOD_CSV) - 1)
    assert "limit" in refusal(GOOD_CSV)
    monkeypatch.setattr(ingest, "MAX_BYTES", len(GOOD_CSV))
    assert predictions(GOOD_CSV).rows == 3


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("id,y_true,y_score\ncafé,1,0.5\nb,0,0.1\n".encode("latin-1"), ["utf-8", "0xe9"]),
        (b"PK\x03\x04\x14\x00\x06\x00", ["excel", "csv"]),
        (b"\xff\xfei\x00d\x00", ["utf-16"]),
        (b"\x1f\x8b\x08\x00", ["compressed"]),
        (b"PAR1 but not really", ["parquet", "could not be read"]),
        (b"y_true,y_score\n1,0.5\x00\n0,0.1\n", ["nul"]),
    ],
    ids=["latin-1", "xlsx", "utf-16", "gzip", "broken-parquet", "nul"],
)
def test_undecodable_and_binary_files_are_refused(data: bytes, words: list[str]) -> None:
    message = refusal(data)
    assert all(word in message for word in words), message


def test_malformed_csv_and_json_are_refused() -> None:
    assert "quotes" in refusal(b'y_true,y_score\n"1,0.5\n0,0.1\n')
    assert "line 3" in refusal(b"y_true,y_score\n1,0.5\n0,0.1,7\n")
    assert "more fields than the header" in refusal(b"y_true,y_score\n1,0.5,\n0,0.1,\n")
    # pandas would take the first field for a row index and shift every column silently.
    assert "more fields than the header" in refusal(b"y_true,y_pred\n0,1,5\n1,2,6\n2,3,7\n")
    assert "not valid json" in refusal(b'{"y_true": [1, 0], "y_score": [0.5, ')
    assert "semicolons" in refusal(b"y_true;y_score\n1;0.5\n0;0.1\n")
    assert "differ in length" in refusal(b'{"y_true": [1, 0], "y_score": [0.5]}')
    assert "row 2 of the json list" in refusal(b'[{"y_true": 1, "y_score": 0.5}, 7]')
    assert "must be a list" in refusal(b'{"y_true": 1, "y_score": 0.5}')


def test_missing_columns_are_named_with_what_was_found() -> None:
    message = refusal(b"label,prob,a,b,c,d,e,f,g,h\n1,0.5,,,,,,,,\n0,0.1,,,,,,,,\n")
    assert "no y_true and no y_score column" in message
    assert "'label', 'prob'" in message and "and 2 more" in message
    assert "no y_score column" in refusal(b"y_true,prob\n1,0.5\n0,0.1\n")
    assert "no y_pred column" in refusal(b"y_true,y_score\n1,0.5\n0,0.1\n", kind=Kind.REGRESSION)
    assert "no y_true" in refusal(b'[{"y_score": 0.5}, {"y_score": 0.2}]')


def test_ambiguous_columns_are_refused() -> None:
    both = refusal(b"y_true,y_score,y_pred\n1,0.9,5\n0,0.2,7\n")
    assert "both y_score and y_pred" in both and "ambiguous" in both
    twice = refusal(b"y_true,Y_TRUE ,y_score\n1,1,0.9\n0,0,0.2\n")
    assert "more than one y_true column" in twice
    assert "twice" in refusal(b'{"y_true": [1, 0], "Y_True": [1, 0], "y_score": [0.5, 0.1]}')


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("y_true,y_score\n1,0.9\n0,abc\n", ["y_score", "data row 2", "'abc'", "not a number"]),
        ("y_true,y_score\n1,0.9\n0,\n", ["y_score", "data row 2", "empty"]),
        ("y_true,y_score\n1,0.9\n0,nan\n", ["y_score", "data row 2", "nan"]),
        ("y_true,y_score\n1,inf\n0,0.2\n", ["y_score", "data row 1", "infinite"]),
        ("y_true,y_score\n1,0.9\n0,-Infinity\n", ["y_score", "data row 2", "infinite"]),
        ("y_true,y_score\n1,0.9\n0,1e999\n", ["y_score", "data row 2", "infinite"]),
        ("y_true,y_score\n1,0.9\n,0.2\n", ["y_true", "data row 2", "empty"]),
        ("y_true,y_score\n1,0.9\nyes,0.2\n", ["y_true", "data row 2", "'yes'"]),
        ("y_true,y_score\n1,0.9\n0,true\n", ["y_score", "data row 2", "not a number"]),
        ("y_true,y_pred\n1,0.9\nnan,0.2\n", ["y_true", "data row 2", "nan"]),
        ("y_true,y_pred\n1,0.9\n2,1_0\n", ["y_pred", "data row 2", "'1_0'"]),
        ('{"y_true": [1, 0], "y_score": [0.5, null]}', ["y_score", "data row 2", "empty"]),
        ('{"y_true": [1, 0], "y_score": [0.5, NaN]}', ["y_score", "data row 2", "nan"]),
        ('{"y_true": [1, 0], "y_score": [0.5, "x"]}', ["y_score", "data row 2", "'x'"]),
        ('{"y_true": [1, 0], "y_score": [0.5, [1]]}', ["y_score", "data row 2", "not a number"]),
        ('{"y_true": [1, 0], "y_score": [0.5, 1' + "0" * 400 + "]}", ["data row 2", "infinite"]),
        ('[{"y_true": 1, "y_score": 0.5}, {"y_true": 0}]', ["y_score", "data row 2", "empty"]),
    ],
)
def test_bad_values_are_refused_naming_column_and_row(text: str, words: list[str]) -> None:
    message = refusal(text.encode())
    assert all(word in message for word in words), message


def test_the_count_of_bad_rows_is_given() -> None:
    assert "3 rows in all" in refusal(b"y_true,y_score\n1,0.9\n0,x\n1,\n0,nan\n")


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        (["2"], "found 2 "),
        (["-1"], "found -1 "),
        (["0.5"], "found 0.5 "),
        (["7", "1", "3"], "3, 7"),
    ],
)
def test_classification_labels_must_be_zero_or_one(labels: list[str], shown: str) -> None:
    rows = "".join(f"{label},0.3\n" for label in labels)
    message = refusal(f"y_true,y_score\n1,0.9\n0,0.4\n{rows}".encode())
    assert "must be 0 or 1" in message and shown in message and "data row 3" in message


def test_a_single_class_is_refused() -> None:
    assert "both classes" in refusal(b"y_true,y_score\n1,0.9\n1,0.4\ntrue,0.3\n")
    assert "0 in every row" in refusal(b"y_true,y_score\n0,0.9\n0,0.4\n")


def test_too_few_rows_are_refused() -> None:
    assert "1 data row;" in refusal(b"y_true,y_score\n1,0.9\n")
    assert "0 data rows" in refusal(b"y_true,y_score\n")
    assert "0 data rows" in refusal(b'{"y_true": [], "y_score": []}')


def test_ids_must_be_present_and_unique() -> None:
    assert "data row 2 is empty" in refusal(b"id,y_true,y_score\na,1,0.9\n ,0,0.4\n")
    message = refusal(b"id,y_true,y_score\na,1,0.9\nb,0,0.4\na,0,0.3\n b,1,0.1\n")
    assert "unique" in message and "'a', 'b'" in message
    assert "empty" in refusal(b'{"id": ["a", null], "y_true": [1, 0], "y_score": [0.5, 0.1]}')
    long_id = "x" * (ingest.MAX_ID_LENGTH + 1)
    assert "at most" in refusal(f"id,y_true,y_score\n{long_id},1,0.9\nb,0,0.4\n".encode())


@pytest.mark.parametrize(
    ("metrics", "words"),
    [
        ({"auc": 0.8, "gini": 0.6}, ["unknown metric 'gini'", "known metrics"]),
        ({"auc": 0.8, "rmse": 1.0}, ["rmse", "not a classification metric"]),
        ({"auc": 81}, ["between 0 and 1"]),
        ({"rmse": -1}, ["at least 0"]),
        ({"r2": 1.5}, ["at most 1"]),
        ({"auc": "0.8"}, ["must be a number"]),
        ({"auc": True}, ["must be a number"]),
        ({}, ["metric names and values"]),
    ],
)
def test_scalar_metrics_are_checked(metrics: dict[str, object], words: list[str]) -> None:
    message = refusal(json.dumps({"metrics": metrics}).encode())
    assert all(word in message for word in words), message


def test_non_finite_metric_values_and_unknown_kinds_are_refused() -> None:
    assert "finite" in refusal(b'{"kind": "classification", "metrics": {"auc": NaN}}')
    assert "finite" in refusal(b'{"metrics": {"log_loss": Infinity}}')
    assert "unknown kind" in refusal(b'{"kind": "ranking", "metrics": {"auc": 0.5}}')
    assert "regression metric" in refusal(
        b'{"metrics": {"auc": 0.5}}', kind=Kind.REGRESSION
    ).replace("not a regression", "regression")


# --- parity inputs and pairing --------------------------------------------------------------


def test_parse_scores_needs_only_a_score_column() -> None:
    result = parse_scores(b"id,y_score\n007,0.25\nb,0.5\n")
    assert result.score.tolist() == [0.25, 0.5] and result.y_true.tolist() == [0.0, 0.0]
    assert result.ids is not None and result.ids.tolist() == ["007", "b"]
    single = parse_scores(b'[{"y_pred": 3.5}]')
    assert single.kind is Kind.REGRESSION and single.score.tolist() == [3.5]
    with pytest.raises(ValidationError, match="both y_score and y_pred"):
        parse_scores(b"y_score,y_pred\n1,2\n")
    with pytest.raises(ValidationError, match="no y_score column"):
        parse_scores(b"score\n1\n")
    with pytest.raises(ValidationError, match="not summary metrics"):
        parse_scores(b'{"metrics": {"auc": 0.5}}')
    with pytest.raises(ValidationError, match="data row 2"):
        parse_scores(b"y_score\n1\nnan\n")


def test_row_counts_must_match_the_baseline() -> None:
    three = predictions(GOOD_CSV)
    four = predictions(GOOD_CSV + b"d,0,0.1\n")
    check_pairable_rows(three, predictions(GOOD_CSV))
    check_pairable_rows(three, None)
    check_pairable_rows(ScalarMetrics(Kind.CLASSIFICATION, {"auc": 0.7}), four)
    with pytest.raises(ValidationError) as caught:
        check_pairable_rows(four, three, candidate_name="EXP-7", baseline_name="the baseline")
    message = str(caught.value)
    assert "EXP-7 has 4 rows but the baseline has 3" in message and "same held-out set" in message
    regression = predictions(b"y_true,y_pred\n1,2\n3,4\n5,6\n")
    with pytest.raises(ValidationError, match="regression"):
        check_pairable_rows(regression, three)


# --- properties -----------------------------------------------------------------------------


def parses_or_refuses(data: bytes) -> Evaluation | None:
    try:
        result = parse_evaluation(data)
    except ValidationError as error:
        assert str(error).strip()
        return None
    assert_well_formed(result)
    return result


@MODEST
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    parses_or_refuses(data)


@MODEST
@given(st.binary(max_size=200).map(lambda tail: b"PAR1" + tail))
def test_any_bytes_that_claim_to_be_parquet_are_read_or_refused(data: bytes) -> None:
    parses_or_refuses(data)


@MODEST
@given(st.text(max_size=300))
def test_any_text_is_read_or_refused(text: str) -> None:
    parses_or_refuses(text.encode("utf-8"))


HEADER_WORDS = ["id", "y_true", "y_score", "y_pred", " ID", "Y_True ", "x", "", '"y_score"']
CELLS = [
    "0", "1", "1.0", "0.0", "true", "False", "0.25", "-3", "1e999", "nan", "NA", "inf", "",
    " ", "abc", "007", '"a,b"', '"', "1_0", "0x1", "\u0661", "2", "-1", "0.5", "1e-300",
]  # fmt: skip


@st.composite
def small_csvs(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(HEADER_WORDS), min_size=1, max_size=5))
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(st.sampled_from(CELLS), min_size=max(width - 1, 1), max_size=width + 1),
            max_size=8,
        )
    )
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join([",".join(header)] + [",".join(row) for row in rows])
    return (draw(st.sampled_from(["", "\ufeff"])) + text).encode()


@MODEST
@given(small_csvs())
def test_small_csvs_are_read_or_refused(data: bytes) -> None:
    parses_or_refuses(data)


@MODEST
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.sampled_from(CELLS),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(HEADER_WORDS + ["kind", "metrics", "auc"]), inner)
        ),
        max_leaves=12,
    )
)
def test_any_json_document_is_read_or_refused(document: object) -> None:
    parses_or_refuses(json.dumps(document).encode())


# No lone "\r": pandas writes it unquoted, which every CSV reader takes for a line break.
ids_text = (
    st.text(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=2, max_value=30))
    labels = draw(st.lists(st.sampled_from([0, 1]), min_size=rows, max_size=rows))
    labels[:2] = [0, 1]
    finite = st.floats(allow_nan=False, allow_infinity=False)
    scores = draw(st.lists(finite, min_size=rows, max_size=rows))
    ids = draw(st.lists(ids_text, min_size=rows, max_size=rows, unique=True))
    return pd.DataFrame({"id": ids, "y_true": labels, "y_score": scores})


@MODEST
@given(frames(), st.sampled_from(["csv", "parquet", "json", "records"]))
def test_what_pandas_writes_is_read_back_exactly(frame: pd.DataFrame, form: str) -> None:
    if form == "csv":
        data = frame.to_csv(index=False).encode()
    elif form == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        data = buffer.getvalue()
    elif form == "json":
        data = json.dumps(frame.to_dict("list")).encode()
    else:
        data = json.dumps(frame.to_dict("records")).encode()
    assert_matches(predictions(data), frame)

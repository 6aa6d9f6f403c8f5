"""MLflow run references, tags and the predictions file (SPEC §12), and their commands."""

from __future__ import annotations

import pytest

from bot.domain.commands import AddLink, EvaluateUpload, LinkMlflowRun
from bot.domain.errors import UsageError, ValidationError
from bot.domain.mlflow_runs import predictions_path, run_reference, tagged_number
from bot.slack.parsing import parse, parse_upload

RUN = "4f2a0b9c8d7e6f5a4b3c2d1e0f9a8b7c"


@pytest.mark.parametrize(
    "word",
    [
        f"mlflow:{RUN}",
        f"MLflow:{RUN}",
        f"https://mlflow.example.com/#/experiments/3/runs/{RUN}",
        f"http://127.0.0.1:5000/#/experiments/0/runs/{RUN}/artifacts",
        f"https://dbc-1.cloud.databricks.com/ml/experiments/1234/runs/{RUN}?o=1",
    ],
)
def test_a_run_is_named_by_its_id_or_its_page(word: str) -> None:
    assert run_reference(word) == RUN


@pytest.mark.parametrize(
    "word",
    [
        "https://github.com/acme/churn",
        f"https://mlflow.example.com/#/experiments/3/runs/{RUN}x",
        "https://mlflow.example.com/#/experiments/3",
        "EXP-7",
    ],
)
def test_other_words_name_no_run(word: str) -> None:
    assert run_reference(word) is None


@pytest.mark.parametrize(
    "bad", ["mlflow:", "mlflow:xyz", f"mlflow:{RUN.upper()}", f"mlflow:{RUN}0"]
)
def test_a_malformed_run_id_says_what_one_looks_like(bad: str) -> None:
    with pytest.raises(ValidationError, match="32 hexadecimal characters"):
        run_reference(bad)


@pytest.mark.parametrize(
    ("value", "number"),
    [("EXP-7", 7), ("exp-12", 12), (" EXP-3 ", 3), ("EXP-0", None), ("churn", None), ("", None)],
)
def test_a_tag_names_an_experiment_by_its_key(value: str, number: int | None) -> None:
    assert tagged_number(value) == number


def listing(*paths: str) -> list[tuple[str, bool]]:
    return [(p, not p.rsplit("/", 1)[-1].count(".")) for p in paths]


@pytest.mark.parametrize(
    ("configured", "paths", "found"),
    [
        ("mlgov/predictions", ["mlgov/predictions.csv", "mlgov/notes.txt"],
         "mlgov/predictions.csv"),
        ("mlgov/predictions", ["mlgov/predictions.parquet"], "mlgov/predictions.parquet"),
        ("mlgov/predictions", ["mlgov/predictions", "mlgov/predictions/holdout.json"],
         "mlgov/predictions/holdout.json"),
        ("mlgov/predictions", ["mlgov/predictions.pkl"], "mlgov/predictions.pkl"),  # refused later
        ("mlgov/predictions", ["mlgov/predictions.csv", "mlgov/predictions.pkl"],
         "mlgov/predictions.csv"),
        ("mlgov/predictions", ["mlgov/other.csv"], None),
        ("mlgov/predictions", [], None),
        ("eval/holdout.parquet", ["eval/holdout.parquet", "eval/holdout.csv"],
         "eval/holdout.parquet"),
        ("eval/holdout.parquet", ["eval/holdout.csv"], None),
    ],
)  # fmt: skip
def test_the_predictions_file_is_found_among_the_artifacts(
    configured: str, paths: list[str], found: str | None
) -> None:
    assert predictions_path(configured, listing(*paths)) == found


def test_two_predictions_files_are_refused_naming_both() -> None:
    with pytest.raises(ValidationError, match="several predictions files .*--artifact"):
        predictions_path(
            "mlgov/predictions", listing("mlgov/predictions.csv", "mlgov/predictions.json")
        )


def test_exp_link_takes_a_run_by_id_or_by_its_pasted_page() -> None:
    page = f"https://mlflow.example.com/#/experiments/3/runs/{RUN}"
    assert parse("/exp", f"link EXP-7 mlflow:{RUN}") == LinkMlflowRun(7, RUN)
    assert parse("/exp", f"link EXP-7 <{page}>") == LinkMlflowRun(7, RUN, pasted=page)
    assert parse("/exp", "link EXP-7 https://github.com/acme") == AddLink(7, "https://github.com/acme")


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("link EXP-7 mlflow:nope", "is not an MLflow run id"),
        (f"link EXP-7 mlflow:{RUN} nightly", "linked without a label"),
        (f"link seven mlflow:{RUN}", "is not an experiment key"),
    ],
)
def test_a_bad_run_link_is_refused_with_the_usage(line: str, said: str) -> None:
    with pytest.raises(UsageError, match=said) as refused:
        parse("/exp", line)
    assert "mlflow:<run id>" in str(refused.value)


def test_eval_names_a_run_instead_of_a_file() -> None:
    assert parse_upload("eval", f"EXP-7 mlflow:{RUN}") == EvaluateUpload(7, None, False, RUN)
    assert parse_upload("eval", "EXP-7") == EvaluateUpload(7)
    with pytest.raises(UsageError, match="Unexpected 'extra'"):
        parse_upload("eval", f"EXP-7 mlflow:{RUN} extra")
    with pytest.raises(UsageError, match="Unexpected"):
        parse_upload("parity", f"EXP-7 mlflow:{RUN}")

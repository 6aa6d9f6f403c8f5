"""MLflow runs followed by mlgov (SPEC §12), against a real `mlflow server`.

churn in #CCHURN: alice's EXP-1 holds the baseline, bob's EXP-2 is the running candidate,
alice's EXP-3 is still proposed. Training scripts log runs with MLflow's own client (in
.venv-mlflow), as a team's would; the app is the real HTTP app with the fake Slack, and
``sync`` runs the job `mlflow-sync` once, as the scheduler (or `mlgov jobs run`) does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.config import Settings
from bot.domain.ingest import MAX_BYTES
from bot.jobs import JOBS
from bot.mlflow.client import MlflowClient
from bot.runtime import Runtime
from bot.services.ports import MlflowSource
from bot.slack.dispatch import Origin
from tests.e2e.harness import ADMIN, TEAM, AppUnderTest
from tests.e2e.test_cli import run
from tests.e2e.test_evaluations_http import (
    csv_of,
    held_out,
    shown,
    summaries,
    thread_of,
    upload,
    with_baseline,
)
from tests.e2e.test_review_http import buttons, ok, press, refused, settle
from tests.fakes.slack_api import Call, FakeSlack
from tests.integration.test_computing import child  # noqa: F401 - the computing process
from tests.mlflow_server import MlflowServer, free_port

TAG = "mlgov.experiment"


@pytest.fixture
def app(
    fake_slack: FakeSlack, migrated_sqlite_url: str, mlflow_server: MlflowServer
) -> Iterator[AppUnderTest]:
    """The team, with MLFLOW_TRACKING_URI set to the test's MLflow server."""
    under_test = AppUnderTest(
        fake_slack, migrated_sqlite_url, settings={"mlflow_tracking_uri": mlflow_server.url}
    )
    under_test.setup_team()
    criterion = "--hypothesis it lifts AUC --metric auc --min-delta 0.01"
    ok(under_test, "UALICE", "/exp", f"new churn Logistic baseline {criterion}")
    ok(under_test, "UBOB", "/exp", f"new churn Gradient boosting {criterion}")
    ok(under_test, "UALICE", "/exp", f"new churn Tenure features {criterion}")
    ok(under_test, "UALICE", "/exp", "start EXP-1")
    ok(under_test, "UBOB", "/exp", "start EXP-2")
    settle(under_test)
    yield under_test
    under_test.close()


def sync(app: AppUnderTest) -> list[str]:
    """One run of the job mlflow-sync; returns what it did once its messages went out."""
    done = JOBS["mlflow-sync"].run(app.runtime.job_env(), app.runtime.clock())
    settle(app)
    return done


def in_thread(app: AppUnderTest, key: str) -> list[Call]:
    """What was posted in ``key``'s thread so far."""
    ts = thread_of(app, key)
    return [c for c in app.fake.calls("chat.postMessage") if c.params.get("thread_ts") == ts]


def thread_texts(app: AppUnderTest, key: str) -> list[str]:
    return [str(c.params["text"]) for c in in_thread(app, key)]


def run_tags(server: MlflowServer, run_id: str) -> dict[str, str]:
    run = server.rest("GET", "runs/get", {"run_id": run_id})["run"]
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def count(app: AppUnderTest, table: str) -> int:
    return app.count(table)


# --- following runs ------------------------------------------------------------------------


@pytest.mark.usefixtures("child")
def test_a_tagged_run_with_predictions_is_summarised_against_the_baseline_in_one_sync(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    """The file is parsed and summarised in the computing process, as `mlgov serve` does."""
    y, _, strong = with_baseline(app)
    run_id = mlflow_server.log_run(
        tags={TAG: "EXP-2"},
        metrics={"val_auc": 0.8312, "train_loss": 0.41},
        artifacts={"mlgov/predictions.csv": csv_of(y, strong)},
    )

    done = sync(app)

    assert done == [f"EXP-2: run {run_id} imported as evaluation #2"]
    message = summaries(app, "EXP-2")[0]
    text = shown(message)
    assert "vs baseline EXP-1" in text and "AUC *better*" in text and "*met*" in text
    assert "Logged in MLflow" in text and "val_auc 0.8312" in text and "train_loss 0.41" in text
    credit = message.params["blocks"][-1]["elements"][0]["text"]
    assert f"Imported from mlflow run {run_id}: mlgov/predictions.csv" in credit
    thread = thread_of(app, "EXP-2")
    assert app.fake.wait_for(
        "files.completeUploadExternal", predicate=lambda c: c.params.get("thread_ts") == thread
    ), "the chart, as for an upload"
    # Seen again (and again): imported once.
    assert sync(app) == [] and sync(app) == []
    assert count(app, "evaluations") == 2
    assert len(summaries(app, "EXP-2")) == 1
    shown_runs = ok(app, "UBOB", "/exp", "show EXP-2")
    assert "EXP-2" in shown_runs
    reply = app.command_reply("UBOB", "/exp", "show EXP-2")
    runs = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    assert "MLflow runs" in runs and "finished · predictions imported (evaluation #2)" in runs
    assert f"{mlflow_server.url}/#/experiments/" in runs and f"/runs/{run_id}|" in runs


def test_a_run_of_a_proposed_experiment_offers_start_and_a_failed_run_is_one_line(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    run_id = mlflow_server.log_run(tags={TAG: "EXP-3"}, status="RUNNING")

    assert sync(app) == [f"EXP-3: run {run_id} started; Start offered"]

    (started,) = [t for t in thread_texts(app, "EXP-3") if "MLflow run" in t]
    assert "started for EXP-3, which is still proposed" in started and "<@UALICE>" in started
    (offer,) = [
        c for c in app.fake.calls("chat.postMessage") if c.params.get("channel") == "UALICE"
    ]
    assert buttons(offer) == {"exp_start": "EXP-3"}
    assert sync(app) == [], "offered once"
    reply = app.command_reply("UALICE", "/exp", "show EXP-3")
    assert "proposed" in reply["text"], "mlgov never starts an experiment by itself"
    answer = press(app, "UALICE", "exp_start", "EXP-3")
    assert "limit 1" in answer["text"], "the WIP rules apply to this Start as to any"
    ok(app, "UALICE", "/exp", "abandon EXP-1 superseded")
    answer = press(app, "UALICE", "exp_start", "EXP-3")
    assert "proposed → running" in answer["text"]

    mlflow_server.end_run(run_id, "FAILED")
    assert sync(app) == [f"EXP-3: run {run_id} failed"]
    failed = [t for t in thread_texts(app, "EXP-3") if "failed" in t]
    assert len(failed) == 1 and f"/runs/{run_id}|" in failed[0]
    assert sync(app) == [] and count(app, "evaluations") == 0


def test_mlflow_down_delays_the_sync_and_loses_nothing(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    y, weak, _ = held_out()
    run_id = mlflow_server.log_run(
        tags={TAG: "EXP-2"}, artifacts={"mlgov/predictions.csv": csv_of(y, weak)}
    )
    live = app.runtime.dispatcher.mlflow
    assert live is not None
    # MLflow down: nothing answers at its address (the client's retries are real, their
    # waits cut short). Stopping the test's server and starting it again costs a minute.
    waits: list[float] = []
    down = MlflowClient(f"http://127.0.0.1:{free_port()}", sleep=waits.append)
    app.runtime.dispatcher.mlflow = MlflowSource(down, live.artifact)
    (said,) = sync(app)
    assert said.startswith("MLflow is unreachable; nothing changed") and waits == [0.5, 1, 2]
    assert count(app, "mlflow_runs") == 0 and count(app, "mlflow_cursor") == 0
    assert not [t for t in thread_texts(app, "EXP-2") if "MLflow" in t]

    app.runtime.dispatcher.mlflow = live  # back
    assert sync(app) == [f"EXP-2: run {run_id} imported as evaluation #1"]
    assert summaries(app, "EXP-2")


def test_a_pickle_or_an_oversized_file_is_refused_and_never_downloaded(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    pickled = mlflow_server.log_run(
        tags={TAG: "EXP-2"}, artifacts={"mlgov/predictions.pkl": b"\x80\x04\x95N."}
    )
    huge = mlflow_server.run_python(
        """
import os, tempfile, mlflow
mlflow.set_experiment(os.environ["EXPERIMENT"])
with mlflow.start_run() as run, tempfile.TemporaryDirectory() as folder:
    mlflow.set_tag("mlgov.experiment", "EXP-2")
    path = os.path.join(folder, "predictions.csv")
    with open(path, "wb") as f:
        f.write(b"id,y_true,y_score\\n")
        f.truncate(int(os.environ["SIZE"]))
    mlflow.log_artifact(path, artifact_path="mlgov")
print(run.info.run_id)
""",
        EXPERIMENT=mlflow_server.experiment,
        SIZE=str(MAX_BYTES + 1),
    ).splitlines()[-1]

    done = sync(app)

    assert sorted(done) == sorted(
        [f"EXP-2: run {pickled} refused ({note})" for note in [_note(app, pickled)]]
        + [f"EXP-2: run {huge} refused ({note})" for note in [_note(app, huge)]]
    )
    lines = [t for t in thread_texts(app, "EXP-2") if "were not imported" in t]
    assert len(lines) == 2
    assert any("mlgov/predictions.pkl is not a predictions file" in t for t in lines)
    assert any("over the 100 MB limit" in t for t in lines)
    assert count(app, "evaluations") == 0
    downloads = [line for line in mlflow_server.log().splitlines() if "/get-artifact" in line]
    assert not [line for line in downloads if pickled in line or huge in line]
    assert sync(app) == []


def _note(app: AppUnderTest, run_id: str) -> str:
    from sqlalchemy import text

    with app.runtime.db.engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT note FROM mlflow_runs WHERE run_id = :r"), {"r": run_id}
            ).scalar_one()
        )


def test_a_tag_naming_no_experiment_is_logged_and_skipped(
    app: AppUnderTest, mlflow_server: MlflowServer, caplog: pytest.LogCaptureFixture
) -> None:
    y, _, strong = held_out()
    unknown = mlflow_server.log_run(
        tags={TAG: "EXP-99"}, artifacts={"mlgov/predictions.csv": csv_of(y, strong)}
    )
    garbled = mlflow_server.log_run(tags={TAG: "the churn one"})

    with caplog.at_level(logging.WARNING, logger="bot.services.mlflow_sync"):
        done = sync(app)

    assert sorted(done) == sorted(
        [
            f"run {unknown}: tagged 'EXP-99', no such experiment; skipped",
            f"run {garbled}: tagged 'the churn one', no such experiment; skipped",
        ]
    )
    assert f"{unknown} is tagged mlgov.experiment='EXP-99'" in caplog.text
    assert sync(app) == [], "said once"
    assert count(app, "evaluations") == 0
    # Linked by hand to a real experiment, it is followed after all.
    ok(app, "UBOB", "/exp", f"link EXP-2 mlflow:{unknown}")
    assert sync(app) == [f"EXP-2: run {unknown} imported as evaluation #1"]


# --- linking by hand -----------------------------------------------------------------------


def test_a_run_is_linked_by_its_id_or_its_url_and_tagged_in_mlflow(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    by_id = mlflow_server.log_run(status="RUNNING")
    by_url = mlflow_server.log_run()
    experiment_id = mlflow_server.rest("GET", "runs/get", {"run_id": by_url})["run"]["info"][
        "experiment_id"
    ]
    page = f"http://mlflow.example.com/#/experiments/{experiment_id}/runs/{by_url}"

    said = ok(app, "UBOB", "/exp", f"link EXP-2 mlflow:{by_id}")
    assert "linked to EXP-2" in said
    upload(app, "UBOB", f"exp link EXP-2 <{page}>", [], "Elink")  # a mention, pasted URL
    app.fake.wait_for(  # the reply, in the thread for all: it changed something
        "chat.postMessage",
        predicate=lambda c: "linked to EXP-2: mlgov follows it" in c.params["text"]
        and bool(c.params.get("thread_ts")),
    )

    assert run_tags(mlflow_server, by_id)[TAG] == "EXP-2"
    assert run_tags(mlflow_server, by_url)[TAG] == "EXP-2"
    settle(app)
    added = [t for t in thread_texts(app, "EXP-2") if "added a link" in t]
    assert len(added) == 2 and all("MLflow run" in t for t in added)
    reply = app.command_reply("UBOB", "/exp", "show EXP-2")
    runs = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    assert "MLflow runs* (2)" in runs and "— running" in runs and "— finished" in runs
    assert "already" in refused(app, "UBOB", "/exp", f"link EXP-2 mlflow:{by_id}")
    history = app.command_reply("UBOB", "/exp", "history EXP-2")["text"]
    assert history.count("link") >= 2


def test_bad_links_and_imports_get_clear_messages_and_change_nothing(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    other = mlflow_server.log_run(tags={TAG: "EXP-1"})
    untagged = mlflow_server.log_run()
    missing = "0123456789abcdef0123456789abcdef"

    cases = {
        "link EXP-2 mlflow:xyz": "is not an MLflow run id",
        f"link EXP-2 mlflow:{missing}": f"MLflow has no run {missing}; nothing was linked",
        f"link EXP-2 mlflow:{other}": f"belongs to EXP-1 (its tag {TAG}); nothing was linked",
        f"link EXP-2 mlflow:{untagged} my run": "linked without a label",
        f"link EXP-42 mlflow:{untagged}": "No experiment EXP-42",
    }
    for line, expected in cases.items():
        assert expected in refused(app, "UBOB", "/exp", line), line
    outsider = refused(app, "UOUTSIDER", "/exp", f"link EXP-2 mlflow:{untagged}")
    assert "which you are not on" in outsider

    upload(app, "UBOB", f"eval EXP-2 mlflow:{missing}", [], "Emissing")
    upload(app, "UBOB", f"eval EXP-2 mlflow:{untagged}", [], "Enofile")
    upload(app, "UBOB", "eval EXP-2 mlflow:nothex", [], "Ebadid")
    said = [
        str(c.params["text"])
        for c in app.fake.wait_for(
            "chat.postEphemeral", 3, predicate=lambda c: c.params.get("user") == "UBOB"
        )
    ]
    assert any(f"MLflow has no run {missing}; nothing was recorded" in s for s in said)
    assert any("has no predictions file under mlgov/predictions" in s for s in said)
    assert any("is not an MLflow run id" in s for s in said)
    settle(app)
    assert count(app, "mlflow_runs") == 0 and count(app, "evaluations") == 0
    assert TAG not in run_tags(mlflow_server, untagged)
    assert run_tags(mlflow_server, other)[TAG] == "EXP-1"


def test_eval_with_a_run_imports_its_predictions_on_demand(
    app: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    y, _, strong = with_baseline(app)
    run_id = mlflow_server.log_run(
        metrics={"val_auc": 0.83}, artifacts={"mlgov/predictions.csv": csv_of(y, strong)}
    )

    upload(app, "UBOB", f"eval EXP-2 mlflow:{run_id}", [], "Eimport")

    message = summaries(app, "EXP-2")[0]
    assert "AUC *better*" in shown(message)
    credit = message.params["blocks"][-1]["elements"][0]["text"]
    assert f"Imported from mlflow run {run_id}: mlgov/predictions.csv by <@UBOB>" in credit


def test_with_mlflow_off_runs_are_refused_saying_so_and_urls_stay_plain_links(
    fake_slack: FakeSlack, migrated_sqlite_url: str
) -> None:
    app = AppUnderTest(fake_slack, migrated_sqlite_url)
    try:
        app.setup_team()
        ok(app, "UBOB", "/exp", "new churn Gradient boosting")
        run_id = "0123456789abcdef0123456789abcdef"
        said = refused(app, "UBOB", "/exp", f"link EXP-1 mlflow:{run_id}")
        assert "MLflow is off: MLFLOW_TRACKING_URI is not set" in said
        page = f"https://mlflow.example.com/#/experiments/3/runs/{run_id}"
        assert "Link added to EXP-1" in ok(app, "UBOB", "/exp", f"link EXP-1 {page}")
        assert JOBS["mlflow-sync"].run(app.runtime.job_env(), app.runtime.clock()) == [
            "MLflow is off: MLFLOW_TRACKING_URI is not set (see the README, With MLflow)."
        ]
        assert app.count("mlflow_runs") == 0
    finally:
        app.close()


# --- the command line ----------------------------------------------------------------------


def cli_team(tmp_path: Path) -> None:
    """churn with alice's EXP-1, running, in the CLI's SQLite file (no Slack)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runtime = Runtime.create(Settings(database_url=url, admins=frozenset({ADMIN})))
    try:
        admin = Origin(TEAM, ADMIN)
        alice = Origin(TEAM, "UALICE")
        for origin, command, line in (
            (admin, "/mlgov", "project add churn <#CCHURN|churn>"),
            (admin, "/mlgov", "member add <@UALICE> scientist churn"),
            (alice, "/exp", "new churn Baseline --hypothesis h --metric auc --min-delta 0.01"),
            (alice, "/exp", "start EXP-1"),
        ):
            reply = runtime.dispatcher.command(origin, command, line)
            assert not reply.failed, reply.text
    finally:
        runtime.close()


def test_jobs_run_and_eval_import_from_the_command_line(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    cli_team(tmp_path)
    y, weak, strong = held_out()
    tagged = mlflow_server.log_run(
        tags={TAG: "EXP-1"}, artifacts={"mlgov/predictions.csv": csv_of(y, weak)}
    )
    other = mlflow_server.log_run(artifacts={"eval/holdout.csv": csv_of(y, strong)})
    uri = {"MLFLOW_TRACKING_URI": mlflow_server.url}

    synced = run(tmp_path, "jobs", "run", "mlflow-sync", **uri)
    assert synced.returncode == 0, synced.stderr
    assert f"EXP-1: run {tagged} imported as evaluation #1" in synced.stdout
    imported = run(
        tmp_path, "eval", "import", "EXP-1", "--mlflow-run", other,
        "--artifact", "eval/holdout.csv", **uri,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("recorded evaluation #2 of EXP-1")

    refusals = {
        ("--mlflow-run", other, "--artifact", "model/model.pkl"): "no artifact 'model/model.pkl'",
        ("--mlflow-run", "nothex"): "is not an MLflow run id",
    }
    for args, expected in refusals.items():
        refused_run = run(tmp_path, "eval", "import", "EXP-1", *args, **uri)
        assert refused_run.returncode == 2 and expected in refused_run.stderr, refused_run.stderr
    off = run(tmp_path, "eval", "import", "EXP-1", "--mlflow-run", other)
    assert off.returncode == 2 and "MLflow is off" in off.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as connection:
            sources = connection.execute(sa.text("SELECT source FROM evaluations")).scalars()
            assert list(sources) == ["mlflow", "mlflow"]
    finally:
        engine.dispose()

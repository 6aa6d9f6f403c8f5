"""mlgov's MLflow REST client against a real `mlflow server` driven by MLflow's own client."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.domain.errors import ConfigError, MlflowError, MlflowUnavailable, ValidationError
from bot.domain.ingest import MAX_BYTES
from bot.mlflow.client import MlflowClient
from tests.mlflow_server import MlflowServer, free_port

PREDICTIONS = b"id,label,score\n1,0,0.2\n2,1,0.9\n3,1,0.7\n"
TAG = "tags.`mlgov.experiment` = 'EXP-7'"


def test_runs_are_found_by_their_tag_read_and_tagged(mlflow_server: MlflowServer) -> None:
    tagged = mlflow_server.log_run(
        tags={"mlgov.experiment": "EXP-7"},
        metrics={"auc": 0.81},
        artifacts={"mlgov/predictions.csv": PREDICTIONS},
    )
    mlflow_server.log_run(tags={"mlgov.experiment": "EXP-8"})
    client = MlflowClient(mlflow_server.url)

    runs, next_page = client.search_runs(client.search_experiment_ids(), TAG)

    assert [r.run_id for r in runs] == [tagged] and next_page == ""
    run = client.get_run(tagged)
    assert run.status == "FINISHED" and run.finished and run.metrics == {"auc": 0.81}
    assert run.tags["mlgov.experiment"] == "EXP-7"
    assert client.run_url(run) == (
        f"{mlflow_server.url}/#/experiments/{run.experiment_id}/runs/{tagged}"
    )
    client.set_run_tag(tagged, "mlgov.seen", "yes")
    assert client.get_run(tagged).tags["mlgov.seen"] == "yes"


def test_pages_of_runs_follow_the_page_token(mlflow_server: MlflowServer) -> None:
    mlflow_server.log_runs(3, tags={"mlgov.experiment": "EXP-7"})
    client = MlflowClient(mlflow_server.url)
    ids = client.search_experiment_ids()

    first, token = client.search_runs(ids, TAG, ["attributes.start_time ASC"], max_results=2)
    rest, last = client.search_runs(ids, TAG, ["attributes.start_time ASC"], token, 2)

    assert len(first) == 2 and token and len(rest) == 1 and last == ""
    assert len({r.run_id for r in [*first, *rest]}) == 3
    assert len(list(client.iter_runs(ids, TAG))) == 3


def test_the_predictions_file_downloads_and_nothing_else_does(
    mlflow_server: MlflowServer,
) -> None:
    run_id = mlflow_server.log_run(
        artifacts={"mlgov/predictions.csv": PREDICTIONS, "model/model.pkl": b"\x80\x04N."}
    )
    client = MlflowClient(mlflow_server.url)

    listing = client.list_artifacts(run_id, "mlgov")
    assert [(f.path, f.is_dir, f.size) for f in listing] == [
        ("mlgov/predictions.csv", False, len(PREDICTIONS))
    ]
    assert client.download_artifact(run_id, "mlgov/predictions.csv") == PREDICTIONS
    for path in ("model/model.pkl", "mlgov/../model/model.pkl.csv", "mlgov"):
        with pytest.raises(ValidationError, match="only read predictions files"):
            client.download_artifact(run_id, path)
    with pytest.raises(MlflowError) as missing:
        client.get_run("0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_file_over_the_limit_is_cut_off_while_it_downloads(mlflow_server: MlflowServer) -> None:
    run_id = mlflow_server.log_run(artifacts={"mlgov/predictions.csv": PREDICTIONS})
    assert MlflowClient(mlflow_server.url).max_bytes == MAX_BYTES  # an upload's limit

    small = MlflowClient(mlflow_server.url, max_bytes=len(PREDICTIONS) - 1)
    with pytest.raises(ValidationError, match=f"over the {len(PREDICTIONS) - 1} bytes limit"):
        small.download_artifact(run_id, "mlgov/predictions.csv")
    exact = MlflowClient(mlflow_server.url, max_bytes=len(PREDICTIONS))
    assert exact.download_artifact(run_id, "mlgov/predictions.csv") == PREDICTIONS


def test_model_versions_tags_and_aliases(mlflow_server: MlflowServer) -> None:
    run_id = mlflow_server.log_run(tags={"mlgov.experiment": "EXP-7"})
    mlflow_server.run_python(
        """
import sys
from mlflow import MlflowClient
client = MlflowClient()
client.create_registered_model("churn")
client.create_model_version("churn", f"runs:/{sys.argv[1]}/model", run_id=sys.argv[1])
client.set_registered_model_alias("churn", "champion", "1")
""",
        run_id,
    )
    client = MlflowClient(mlflow_server.url)

    version = client.get_model_version("churn", "1")
    assert (version.name, version.version, version.run_id) == ("churn", "1", run_id)
    assert client.get_registered_model("churn").aliases == {"champion": "1"}
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    assert [v.version for v in client.get_latest_versions("churn")] == ["1"]
    versions, _ = client.search_model_versions("name = 'churn'")
    assert [v.run_id for v in versions] == [run_id]

    client.set_model_version_tag("churn", "1", "mlgov.gate", "blocked")
    assert client.get_model_version("churn", "1").tags == {"mlgov.gate": "blocked"}
    client.delete_model_version_tag("churn", "1", "mlgov.gate")
    assert client.get_model_version("churn", "1").tags == {}


def test_mlflow_down_is_retried_with_backoff_then_reported() -> None:
    waits: list[float] = []
    client = MlflowClient(f"http://127.0.0.1:{free_port()}", attempts=3, sleep=waits.append)

    with pytest.raises(MlflowUnavailable, match="did not answer .*runs/get.* after 3 tries"):
        client.get_run("abc")

    assert waits == [0.5, 1.0]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 503 once, then a run; keeps the Authorization headers it saw."""

    seen: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(self.headers.get("Authorization"))
        first = len(self.seen) == 1
        body = b'{"error_code": "TEMPORARILY_UNAVAILABLE"}' if first else (
            b'{"run": {"info": {"run_id": "r1", "experiment_id": "1", "status": "RUNNING"}}}'
        )
        self.send_response(503 if first else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    """A local HTTP server standing in for a flaky MLflow; yields its URL."""
    _Recorder.seen = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("env", "header"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "s3cret-token"}, "Bearer s3cret-token"),
        (
            {"MLFLOW_TRACKING_USERNAME": "ada", "MLFLOW_TRACKING_PASSWORD": "s3cret-token"},
            "Basic YWRhOnMzY3JldC10b2tlbg==",
        ),
    ],
)
def test_credentials_are_sent_and_never_logged(
    recorder: str, env: dict[str, str], header: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({"MLFLOW_TRACKING_URI": recorder, **env})
    client = MlflowClient.from_settings(settings, sleep=lambda _: None)

    with caplog.at_level(logging.DEBUG):
        run = client.get_run("r1")

    assert run.status == "RUNNING" and _Recorder.seen == [header, header]
    assert "retrying" in caplog.text and "s3cret" not in caplog.text
    assert "s3cret" not in repr(client) + repr(settings)


def test_without_a_tracking_uri_mlflow_is_off() -> None:
    with pytest.raises(ConfigError, match="MLflow is off: MLFLOW_TRACKING_URI is not set"):
        MlflowClient.from_settings(Settings.from_env({}))

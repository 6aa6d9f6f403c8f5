"""The gate in MLflow's model registry (SPEC §12), end to end.

mlgov is served over HTTP with the fake Slack; a real `mlflow server` (tests/mlflow_server)
is driven with MLflow's own client as a team does: a training run tagged with the
experiment, a model version registered from it, the alias `champion`, a webhook created
with ``MlflowClient().create_webhook``. What is checked is what people see: the tags on
the version, read back through MLflow's REST API, and the messages in Slack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ADMIN, AppUnderTest, HttpResult
from tests.e2e.test_cli import run
from tests.e2e.test_evaluations_http import api_post, csv_of, held_out
from tests.e2e.test_review_http import ok
from tests.fakes.slack_api import FakeSlack
from tests.mlflow_server import MlflowServer, free_port
from tests.waiting import wait_until

SECRET = "whsec-mlgov-test"
EVENTS = ["model_version.created", "model_version_alias.created", "model_version_tag.set"]
TIMEOUT = 60.0  # MLflow delivers from a thread pool of its own, retrying on 5xx


def create_webhook(mlflow_server: MlflowServer, url: str) -> None:
    """What the README tells a team to run once."""
    mlflow_server.run_python(
        """
import json, sys
from mlflow import MlflowClient
MlflowClient().create_webhook(
    name="mlgov", url=sys.argv[1], events=json.loads(sys.argv[2]), secret=sys.argv[3]
)
""",
        url,
        json.dumps(EVENTS),
        SECRET,
    )


def register(mlflow_server: MlflowServer, run_id: str, alias: str = "champion") -> None:
    """Register the run's model as version 1 of `churn` and point ``alias`` at it."""
    mlflow_server.run_python(
        """
import sys
from mlflow import MlflowClient
client = MlflowClient()
client.create_registered_model("churn")
version = client.create_model_version("churn", f"runs:/{sys.argv[1]}/model", run_id=sys.argv[1])
if sys.argv[2]:
    client.set_registered_model_alias("churn", sys.argv[2], version.version)
""",
        run_id,
        alias,
    )


def tags_of(mlflow_server: MlflowServer, version: str = "1") -> dict[str, str]:
    """The version's tags as MLflow's REST API shows them."""
    found = mlflow_server.rest("GET", "model-versions/get", {"name": "churn", "version": version})
    return {t["key"]: t["value"] for t in found["model_version"].get("tags", [])}


def texts(app: AppUnderTest, channel: str, word: str) -> list[str]:
    return [m["text"] for m in app.fake.messages(channel) if word in m.get("text", "")]


@pytest.fixture
def gated(
    fake_slack: FakeSlack, migrated_sqlite_url: str, mlflow_server: MlflowServer
) -> Iterator[AppUnderTest]:
    """mlgov with MLflow set; churn's EXP-1 (alice's) running; carol a third scientist."""
    app = AppUnderTest(
        fake_slack,
        migrated_sqlite_url,
        settings={"mlflow_tracking_uri": mlflow_server.url, "mlflow_webhook_secret": SECRET},
    )
    try:
        app.setup_team()
        ok(app, ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
        ok(app, "UALICE", "/exp", "new churn Tenure features --hypothesis h --metric auc")
        ok(app, "UALICE", "/exp", "start EXP-1")
        yield app
    finally:
        app.close()


def test_a_champion_before_review_is_blocked_until_two_approvals_pass_it(
    gated: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    app = gated
    create_webhook(mlflow_server, app.url + "/mlflow/webhook")
    run_id = mlflow_server.log_run(tags={"mlgov.experiment": "EXP-1"})

    register(mlflow_server, run_id, "champion")

    wait_until(lambda: tags_of(mlflow_server).get("mlgov.gate") == "blocked", TIMEOUT)
    tags = tags_of(mlflow_server)
    assert tags["mlgov.experiment"] == "EXP-1"
    assert "no results review has been requested" in tags["mlgov.gate.reasons"]
    assert "EXP-1 is running, not approved" in tags["mlgov.gate.reasons"]
    # The alias warning reaches the thread and the manager once, whatever order MLflow's
    # deliveries (version created, alias created, mlgov's own tags) came in.
    wait_until(lambda: texts(app, "CCHURN", "`champion`") and texts(app, "UMIA", "`champion`"))
    wait_until(app.idle, TIMEOUT)
    for channel in ("CCHURN", "UMIA"):
        (warning,) = texts(app, channel, "`champion`")
        assert "exactly what the gate exists to catch" in warning
        assert "EXP-1" in warning and "no results review has been requested" in warning
    assert not texts(app, "UALICE", "champion")  # managers are told, not everyone

    # Someone passes the gate by hand: MLflow tells mlgov, which sets it back.
    mlflow_server.run_python(
        "from mlflow import MlflowClient\n"
        "MlflowClient().set_model_version_tag('churn', '1', 'mlgov.gate', 'passed')"
    )
    wait_until(lambda: tags_of(mlflow_server).get("mlgov.gate") == "blocked", TIMEOUT)

    y, _, strong = held_out()
    status, _ = api_post(
        app, "/api/v1/experiments/EXP-1/evaluations", csv_of(y, strong), "text/csv"
    )
    assert status == 201
    ok(app, "UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC")
    ok(app, "UBOB", "/review", "approve EXP-1")
    wait_until(lambda: "1 of 2 approvals" in tags_of(mlflow_server)["mlgov.gate.reasons"], TIMEOUT)
    ok(app, "UCAROL", "/review", "approve EXP-1")

    wait_until(lambda: tags_of(mlflow_server).get("mlgov.gate") == "passed", TIMEOUT)
    tags = tags_of(mlflow_server)
    assert tags["mlgov.experiment"] == "EXP-1"
    assert "UBOB" in tags["mlgov.approved_by"] and "UCAROL" in tags["mlgov.approved_by"]
    assert tags["mlgov.evaluation"].startswith("#1 of EXP-1 from api")
    assert "mlgov.gate.reasons" not in tags  # mlgov's own tag, no longer true
    # mlgov never moves an alias: champion still points where the team put it.
    aliases = mlflow_server.rest("GET", "registered-models/get", {"name": "churn"})
    assert aliases["registered_model"]["aliases"] == [{"alias": "champion", "version": "1"}]


def test_a_model_of_a_run_of_no_experiment_is_left_alone(
    gated: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    app = gated
    create_webhook(mlflow_server, app.url + "/mlflow/webhook")
    run_id = mlflow_server.log_run(tags={"team": "risk"})

    register(mlflow_server, run_id, "champion")

    wait_until(lambda: app.count("registry_versions") == 1, TIMEOUT)
    wait_until(lambda: _checked(app), TIMEOUT)
    assert tags_of(mlflow_server) == {}
    assert not texts(app, "CCHURN", "champion")


def _scalar(app: AppUnderTest, sql: str) -> int:
    from sqlalchemy import text

    with app.runtime.db.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def deliveries(app: AppUnderTest) -> int:
    """MLflow deliveries stored in the inbox."""
    return _scalar(app, "SELECT count(*) FROM inbox WHERE kind = 'mlflow'")


def _checked(app: AppUnderTest) -> bool:
    """Every check owed is done and every message out."""
    due = "SELECT count(*) FROM registry_versions WHERE due_at IS NOT NULL"
    return _scalar(app, due) == 0 and app.idle()


# --- deliveries that are not MLflow's --------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    """Where MLflow's webhook points instead of mlgov: keeps each delivery as sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Record)
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Record(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.deliveries.append((dict(self.headers), raw))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def deliver(app: AppUnderTest, headers: dict[str, str], raw: bytes) -> HttpResult:
    keep = ("Content-Type", "X-MLflow-Signature", "X-MLflow-Delivery-Id", "X-MLflow-Timestamp")
    sent = {k: v for k, v in headers.items() if k in keep}
    return app.post("/mlflow/webhook", raw.decode(), sent)


def signed(raw: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Headers as MLflow signs (mlflow/webhooks/delivery.py)."""
    delivery, stamp = str(uuid.uuid4()), str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + raw, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }


def test_a_replayed_delivery_has_one_effect(
    gated: AppUnderTest, mlflow_server: MlflowServer
) -> None:
    app = gated
    recorder = Recorder()
    try:
        create_webhook(mlflow_server, recorder.url)
        run_id = mlflow_server.log_run(tags={"mlgov.experiment": "EXP-1"})
        register(mlflow_server, run_id, "champion")
        wait_until(lambda: len(recorder.deliveries) == 2, TIMEOUT)  # created, alias
    finally:
        recorder.close()
    alias = next(d for d in recorder.deliveries if b'"model_version_alias"' in d[1])

    first, again = deliver(app, *alias), deliver(app, *alias)

    assert first.status == again.status == 200, (first, again)
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    wait_until(lambda: tags_of(mlflow_server).get("mlgov.gate") == "blocked", TIMEOUT)
    wait_until(lambda: _checked(app), TIMEOUT)
    assert deliveries(app) == 1
    assert len(texts(app, "CCHURN", "`champion`")) == 1
    assert len(texts(app, "UMIA", "`champion`")) == 1


def test_forged_stale_and_malformed_deliveries_change_nothing(
    fake_slack: FakeSlack, migrated_sqlite_url: str
) -> None:
    # MLflow is set but never reached: nothing refused may get as far as asking it.
    settings = {"mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}",
                "mlflow_webhook_secret": SECRET}  # fmt: skip
    app = AppUnderTest(fake_slack, migrated_sqlite_url, settings=settings)
    try:
        body = {"entity": "model_version_alias", "action": "created", "timestamp": "t",
                "data": {"name": "churn", "alias": "champion", "version": "1"}}  # fmt: skip
        raw = json.dumps(body).encode()

        forged = deliver(app, signed(raw, secret="not-the-secret"), raw)
        assert forged.status == 401 and "does not match" in forged.json()["error"]
        unsigned = deliver(app, {"Content-Type": "application/json"}, raw)
        assert unsigned.status == 401 and "unsigned" in unsigned.json()["error"]
        stale = deliver(app, signed(raw, at=int(time.time()) - 6 * 60), raw)
        assert stale.status == 401 and "five minutes" in stale.json()["error"]
        altered = raw.replace(b"champion", b"production")
        tampered = deliver(app, signed(raw), altered)
        assert tampered.status == 401

        wrong_version = {**body, "data": {"name": "churn", "version": "one"}}
        no_data = {"entity": "model_version", "action": "created"}
        for bad in (
            b"not json",
            b"[]",
            json.dumps(no_data).encode(),
            json.dumps(wrong_version).encode(),
        ):
            malformed = deliver(app, signed(bad), bad)
            assert malformed.status == 400, (bad, malformed)
            assert malformed.json()["error"].startswith("Malformed delivery")

        other = json.dumps({"entity": "prompt", "action": "created", "data": {}}).encode()
        ignored = deliver(app, signed(other), other)
        assert (
            ignored.status == 200 and "does not act on prompt.created" in ignored.json()["ignored"]
        )

        assert deliveries(app) == 0 and app.count("registry_versions") == 0
        assert fake_slack.messages() == []
    finally:
        app.close()


def test_webhooks_are_refused_while_their_secret_is_not_set(
    fake_slack: FakeSlack, migrated_sqlite_url: str
) -> None:
    raw = b'{"entity": "model_version", "action": "created", "data": {}}'
    without = AppUnderTest(fake_slack, migrated_sqlite_url)
    try:
        off = deliver(without, signed(raw), raw)
        assert off.status == 403 and "MLFLOW_TRACKING_URI is not set" in off.json()["error"]
    finally:
        without.close()
    settings = {"mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}"}
    no_secret = AppUnderTest(fake_slack, migrated_sqlite_url, settings=settings)
    try:
        off = deliver(no_secret, signed(raw), raw)
        assert off.status == 403 and "MLGOV_MLFLOW_WEBHOOK_SECRET" in off.json()["error"]
        assert deliveries(no_secret) == 0
    finally:
        no_secret.close()


# --- where webhooks cannot reach mlgov -------------------------------------------------


def test_polling_a_ruled_model_without_webhooks_has_the_same_effect_once(
    gated: AppUnderTest, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    app = gated
    ok(app, ADMIN, "/mlgov", "rules churn mlflow_model=churn")
    run_id = mlflow_server.log_run(tags={"mlgov.experiment": "EXP-1"})
    register(mlflow_server, run_id, "")  # no webhook: MLflow tells nobody

    def sync() -> str:
        """`mlgov jobs run mlflow-sync`, as cron or an operator runs it."""
        env = {"DATABASE_URL": app.settings.database_url, "MLFLOW_TRACKING_URI": mlflow_server.url}
        done = run(tmp_path, "jobs", "run", "mlflow-sync", **env)
        assert done.returncode == 0, done.stderr
        wait_until(lambda: _checked(app), TIMEOUT)  # the app delivers what it queued
        return done.stdout

    assert "churn: 1 new version(s) or alias(es) to check" in sync()
    assert tags_of(mlflow_server)["mlgov.gate"] == "blocked"
    assert len(texts(app, "CCHURN", "registered before the review passed")) == 1
    assert "churn:" not in sync()  # nothing new: nothing checked, nobody told again

    mlflow_server.run_python(
        "from mlflow import MlflowClient\n"
        "MlflowClient().set_registered_model_alias('churn', 'champion', '1')"
    )
    assert "churn: 1 new version(s) or alias(es) to check" in sync()
    assert len(texts(app, "CCHURN", "`champion`")) == 1
    assert len(texts(app, "UMIA", "`champion`")) == 1
    assert "churn:" not in sync()

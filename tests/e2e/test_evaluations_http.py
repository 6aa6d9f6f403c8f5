"""Metric summaries over the real HTTP app (SPEC §5): uploads in Slack, the pipeline API,
baselines, parity, and refusals that write nothing.

churn in #CCHURN: alice owns EXP-1 (the baseline model), bob EXP-2 (a stronger candidate);
carol is another scientist, mia the manager. Files are served by the fake Slack
under SLACK_API_URL's host, and the app downloads them with its bot token.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from bot.domain.review import ReviewKind
from tests.e2e.harness import ADMIN, API_TOKEN, TEAM, AppUnderTest
from tests.e2e.test_review_http import (
    APPROVE,
    buttons,
    ok,
    press,
    refused,
    settle,
)
from tests.fakes.slack_api import Call

ROWS = 600


def held_out(seed: int = 7, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a weak baseline's and a stronger candidate's probabilities on the same rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(int)
    signal = y + rng.normal(0, 1.0, rows)
    weak = 1 / (1 + np.exp(-(0.6 * signal + rng.normal(0, 1.2, rows) - 0.5)))
    strong = 1 / (1 + np.exp(-(2.0 * signal - 1.2)))
    return y, weak, strong


def csv_of(y: np.ndarray, score: np.ndarray, ids: bool = True) -> bytes:
    lines = ["id,y_true,y_score" if ids else "y_true,y_score"]
    for i, (label, s) in enumerate(zip(y, score, strict=True)):
        lines.append(f"r{i},{label},{s:.17g}" if ids else f"{label},{s:.17g}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def churn(request: pytest.FixtureRequest) -> AppUnderTest:
    """The team with alice's EXP-1 (baseline) and bob's EXP-2 (candidate), both running."""
    app: AppUnderTest = request.getfixturevalue(request.param)
    app.setup_team()
    ok(app, ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    criterion = "--hypothesis it lifts AUC --metric auc --min-delta 0.01"
    ok(app, "UALICE", "/exp", f"new churn Logistic baseline {criterion}")
    ok(app, "UBOB", "/exp", f"new churn Gradient boosting {criterion}")
    ok(app, "UALICE", "/exp", "start EXP-1")
    ok(app, "UBOB", "/exp", "start EXP-2")
    settle(app)
    return app


def upload(
    app: AppUnderTest,
    user: str,
    text: str,
    files: list[tuple[str, bytes]],
    event_id: str,
    *,
    retry: int | None = None,
) -> None:
    """``@mlgov <text>`` with files attached, as Slack sends an app_mention."""
    shared = []
    for n, (name, data) in enumerate(files):
        url = app.fake.host_file(f"{TEAM}-F{event_id}{n}/{name}", data)
        shared.append(
            {"id": f"F{event_id}{n}", "name": name, "size": len(data), "url_private": url}
        )
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": f"17000003{len(event_id):02d}.000100",
        "channel": "CCHURN",
        "files": shared,
    }
    result = app.event(event, event_id, retry=retry)
    assert result.status == 200


def thread_of(app: AppUnderTest, key: str) -> str:
    root = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith(f"{key} ")
    )[0]
    return str(root.response["ts"])


def summaries(app: AppUnderTest, key: str, count: int = 1) -> list[Call]:
    ts = thread_of(app, key)
    return app.fake.wait_for(
        "chat.postMessage",
        count,
        predicate=lambda c: (
            c.params.get("thread_ts") == ts
            and any(
                b.get("type") == "header" and b["text"]["text"].startswith("Metric summary:")
                for b in c.params.get("blocks") or []
            )
        ),
        timeout=30,
    )


def shown(message: Call) -> str:
    return "\n".join(b["text"]["text"] for b in message.params["blocks"] if b["type"] == "section")


def stored_summaries(app: AppUnderTest) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with app.runtime.db.engine.connect() as connection:
        rows = connection.execute(text("SELECT summary FROM evaluations ORDER BY id")).all()
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def ephemeral_to(app: AppUnderTest, user: str, count: int = 1) -> list[str]:
    calls = app.fake.wait_for(
        "chat.postEphemeral", count, predicate=lambda c: c.params.get("user") == user
    )
    return [str(c.params["text"]) for c in calls]


def with_baseline(app: AppUnderTest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, weak, strong = held_out()
    upload(app, "UALICE", "eval EXP-1", [("baseline.csv", csv_of(y, weak))], "Ev1")
    summaries(app, "EXP-1")
    ok(app, "UMIA", "/exp", "baseline churn EXP-1")
    return y, weak, strong


# --- the upload path ----------------------------------------------------------------------


def test_an_uploaded_file_gives_the_right_numbers_a_verdict_and_a_chart(
    churn: AppUnderTest,
) -> None:
    app = churn
    y, weak, strong = with_baseline(app)
    upload(app, "UALICE", "eval EXP-2", [("candidate.csv", csv_of(y, strong))], "Ev2")
    message = summaries(app, "EXP-2")[0]
    text = shown(message)
    auc, base_auc = roc_auc_score(y, strong), roc_auc_score(y, weak)
    assert f"{auc:.4f}" in text and f"{base_auc:.4f}" in text
    assert "AUC *better*" in text and "*met*" in text
    assert f"{average_precision_score(y, strong):.4f}" in text
    assert f"{log_loss(y, strong):.4f}" in text
    # The stored numbers agree with scikit-learn to 1e-6.
    stored = stored_summaries(app)[-1]
    assert abs(stored["metrics"]["auc"] - auc) < 1e-6
    assert abs(stored["baseline_metrics"]["auc"] - base_auc) < 1e-6
    assert abs(stored["metrics"]["log_loss"] - log_loss(y, strong)) < 1e-6
    # The file was fetched with the bot token; the chart went into the thread as a PNG.
    download = app.fake.wait_for("file.download")[-1]
    assert download.headers["authorization"] == "Bearer xoxb-test"
    thread = thread_of(app, "EXP-2")
    done = app.fake.wait_for(
        "files.completeUploadExternal",
        predicate=lambda c: c.params.get("thread_ts") == thread,
    )[0]
    file_id = done.params["files"][0]["id"]
    assert app.fake.uploaded(file_id)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_faulty_file_is_refused_to_its_sender_and_writes_nothing(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = held_out()
    bad = csv_of(y, strong).replace(b",0.", b",nan", 1)
    upload(app, "UALICE", "eval EXP-2", [("broken.csv", bad)], "Ebad")
    (said,) = ephemeral_to(app, "UALICE")
    assert said.startswith(":warning:") and "nan" in said.lower()
    labels = csv_of(np.where(y == 1, 2, 0), strong)
    upload(app, "UALICE", "eval EXP-2", [("labels.csv", labels)], "Elabels")
    said = ephemeral_to(app, "UALICE", 2)[-1]
    assert "y_true must be 0 or 1" in said and "found 2" in said
    upload(app, "UALICE", "eval EXP-2", [], "Enofile")
    assert "Attach one file" in ephemeral_to(app, "UALICE", 3)[-1]
    upload(app, "UALICE", "eval EXP-2", [("junk.bin", b"\xff\xfe\x00\x81" * 50)], "Ejunk")
    assert ephemeral_to(app, "UALICE", 4)[-1].startswith(":warning:")
    settle(app)
    assert app.count("evaluations") == 0


def test_rows_that_do_not_match_the_baseline_are_refused(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = with_baseline(app)
    upload(app, "UALICE", "eval EXP-2", [("short.csv", csv_of(y[:-10], strong[:-10]))], "Eshort")
    said = ephemeral_to(app, "UALICE")[0]
    assert f"{ROWS - 10}" in said and f"{ROWS}" in said
    settle(app)
    assert app.count("evaluations") == 1  # the baseline's only


def test_a_repeated_delivery_records_one_evaluation(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = held_out()
    for retry in (None, 1, 2):
        upload(app, "UALICE", "eval EXP-2", [("c.csv", csv_of(y, strong))], "Edup", retry=retry)
    summaries(app, "EXP-2")
    settle(app)
    assert app.count("evaluations") == 1


def test_someone_off_the_project_cannot_upload(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = held_out()
    upload(app, "UOUTSIDER", "eval EXP-2", [("c.csv", csv_of(y, strong))], "Eout")
    assert "not on" in ephemeral_to(app, "UOUTSIDER")[0]
    assert not app.fake.calls("file.download"), "refused before downloading"
    assert app.count("evaluations") == 0


def test_a_large_file_says_computing_then_shows_the_summary_in_its_place(
    churn: AppUnderTest,
) -> None:
    app = churn
    y, _, strong = held_out(rows=60_000)
    upload(app, "UALICE", "eval EXP-2", [("big.csv", csv_of(y, strong, ids=False))], "Ebig")
    thread = thread_of(app, "EXP-2")
    computing = app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.params.get("thread_ts") == thread and "Computing" in c.params["text"],
    )[0]
    assert "60,000 rows" in computing.params["text"]
    edit = app.fake.wait_for(
        "chat.update",
        predicate=lambda c: c.params.get("ts") == computing.response["ts"],
        timeout=60,
    )[0]
    assert f"{roc_auc_score(y, strong):.4f}" in json.dumps(edit.params["blocks"])


# --- baselines and /exp metrics -----------------------------------------------------------


def test_only_a_manager_sets_the_baseline_and_its_history_is_kept(churn: AppUnderTest) -> None:
    app = churn
    y, weak, strong = held_out()
    refused_text = refused(app, "UMIA", "/exp", "baseline churn EXP-1")
    assert "no evaluation yet" in refused_text
    upload(app, "UALICE", "eval EXP-1", [("b.csv", csv_of(y, weak))], "Eb1")
    upload(app, "UALICE", "eval EXP-2", [("c.csv", csv_of(y, strong))], "Eb2")
    summaries(app, "EXP-1")
    summaries(app, "EXP-2")
    assert "Only a manager" in refused(app, "UALICE", "/exp", "baseline churn EXP-1")
    ok(app, "UMIA", "/exp", "baseline churn EXP-1")
    ok(app, "UMIA", "/exp", "baseline churn EXP-2")
    history = ok(app, "UBOB", "/exp", "baseline churn")
    assert history.index("EXP-2") < history.index("EXP-1") and "current" in history
    metrics = app.command_reply("UBOB", "/exp", "metrics EXP-2")
    assert "EXP-2" in metrics["text"]
    assert f"{roc_auc_score(y, strong):.4f}" in json.dumps(metrics["blocks"])
    assert app.count("baselines") == 2
    with app.runtime.db.read() as uow:
        actions = [e.action for e in uow.audit.for_experiment(uow.experiments.require(TEAM, 2))]
    assert actions.count("baseline") == 1 and "evaluation" in actions


# --- new results dismiss approvals -------------------------------------------------------


def test_a_new_evaluation_after_an_approval_dismisses_it(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = with_baseline(app)
    upload(app, "UALICE", "eval EXP-2", [("c.csv", csv_of(y, strong))], "Ed1")
    summaries(app, "EXP-2")
    ok(app, "UBOB", "/exp", "analyze EXP-2")
    ok(app, "UBOB", "/exp", "conclude EXP-2 success boosting lifts AUC")
    request = request_message_of(app, "EXP-2")  # conclude asked alice and carol
    assert "Metric summary* (evaluation #2" in shown(request) and "AUC *better*" in shown(request)
    review = buttons(request)[APPROVE]
    press(app, "UCAROL", APPROVE, review)
    press(app, "UALICE", APPROVE, review)
    assert ok(app, "UMIA", "/exp", "show EXP-2").split(": ", 1)[1].startswith("approved")
    upload(app, "UALICE", "eval EXP-2", [("c2.csv", csv_of(y, strong * 0.99))], "Ed2")
    second = summaries(app, "EXP-2", 2)[-1]
    assert "dismissed 2 approval" in shown(second)
    settle(app)
    with app.runtime.db.read() as uow:
        experiment = uow.experiments.require(TEAM, 2)
        latest = uow.reviews.latest(experiment.id, ReviewKind.RESULTS)
    assert latest is not None and not latest.approvals(experiment.owner_id)
    # No dead end (issue 10, item 1): back in review, the two reviewers asked again.
    assert experiment.status.value == "in_review" and latest.open
    texts = [c.params["text"] for c in app.fake.calls("chat.postMessage")]
    assert "🔁 New results (evaluation #3) dismissed 2 approvals; review reopened" in "\n".join(
        texts
    )
    again = app.fake.wait_for(
        "chat.postMessage",
        2,
        predicate=lambda c: c.params["text"].startswith("Review of the results of EXP-2"),
    )[-1]
    for reviewer in ("UCAROL", "UALICE"):
        press(app, reviewer, APPROVE, buttons(again)[APPROVE])
    assert "approved → scheduled" in ok(app, "UERIN", "/exp", "schedule EXP-2")


def request_message_of(app: AppUnderTest, key: str) -> Call:
    return app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.params["text"].startswith(f"Review of the results of {key}"),
    )[0]


# --- the pipeline API -----------------------------------------------------------------


def api_post(
    app: AppUnderTest, path: str, body: bytes, content_type: str, token: str | None = API_TOKEN
) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(app.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_pipeline_api_records_an_evaluation_with_a_bearer_token(churn: AppUnderTest) -> None:
    app = churn
    y, weak, strong = with_baseline(app)
    path = "/api/v1/experiments/EXP-2/evaluations"
    assert api_post(app, path, csv_of(y, strong), "text/csv", token=None)[0] == 401
    assert api_post(app, path, csv_of(y, strong), "text/csv", token="wrong")[0] == 401
    status, body = api_post(app, path, csv_of(y, strong), "text/csv")
    assert status == 201, body
    assert body["experiment"] == "EXP-2" and body["baseline"] == "EXP-1"
    assert body["verdict"] == "better" and body["criterion_met"] is True
    assert abs(body["summary"]["metrics"]["auc"] - roc_auc_score(y, strong)) < 1e-6
    summaries(app, "EXP-2")
    records = {
        "y_true": y.tolist(),
        "y_score": strong.tolist(),
        "id": [f"r{i}" for i in range(ROWS)],
    }
    status, body = api_post(app, path, json.dumps(records).encode(), "application/json")
    assert status == 201 and body["verdict"] == "better"
    scalar = {"kind": "classification", "metrics": {"auc": 0.81, "log_loss": 0.42}}
    status, body = api_post(app, path, json.dumps(scalar).encode(), "application/json")
    assert status == 201 and body["verdict"] is None
    before = app.count("evaluations")
    bad = [
        csv_of(y, np.where(strong > 0.5, np.inf, strong)),
        b"y_true,y_score,y_pred\n0,0.1,0.2\n1,0.9,0.8\n",
        b"",
        json.dumps({"metrics": {"auc": "high"}}).encode(),
    ]
    for body_bytes in bad:
        status, body = api_post(app, path, body_bytes, "text/csv")
        assert status == 400 and body["error"], body
    assert (
        api_post(app, "/api/v1/experiments/EXP-99/evaluations", csv_of(y, strong), "text/csv")[0]
        == 404
    )
    assert app.count("evaluations") == before


# --- parity -----------------------------------------------------------------------------


def test_two_uploads_with_parity_are_compared_stored_and_shown(churn: AppUnderTest) -> None:
    app = churn
    y, _, strong = held_out()
    production = strong.copy()
    production[:3] += 0.3  # three rows drift in production
    files = [("prototype.csv", csv_of(y, strong)), ("production.csv", csv_of(y, production))]
    upload(app, "UALICE", "parity EXP-2 --tolerance 1e-6", files, "Ep1")
    thread = thread_of(app, "EXP-2")
    said = app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.params.get("thread_ts") == thread and "Parity" in c.params["text"],
    )[0].params["text"]
    assert "3 rows" in said and "0.3" in said
    settle(app)
    assert app.count("parity_checks") == 1
    upload(app, "UALICE", "parity EXP-2", files[:1], "Ep2")
    assert "two files" in ephemeral_to(app, "UALICE")[0]
    assert app.count("parity_checks") == 1


def test_the_api_answers_the_criterion_verdict_and_is_credited_as_the_pipeline(
    churn: AppUnderTest,
) -> None:
    """The verdict `mlgov eval push --require-criterion` gates on, in the body; and the
    upload is shown as the `api` pipeline's with its file, never as some member's."""
    app = churn
    y, weak, strong = with_baseline(app)
    path = "/api/v1/experiments/EXP-2/evaluations"
    status, body = api_post(app, path + "?filename=strong.csv", csv_of(y, strong), "text/csv")
    assert status == 201, body
    assert body["criterion_met"] is True
    assert body["criterion"]["verdict"] == "met" and "auc +0.01" in body["criterion"]["reason"]
    status, body = api_post(app, path, csv_of(y, weak), "text/csv")  # the baseline's scores
    assert status == 201 and body["criterion_met"] is False, body
    assert body["criterion"]["verdict"] == "not met"
    # No criterion written: not judged (null), whatever the default metric says.
    ok(app, "UCAROL", "/exp", "new churn Unwritten idea")
    status, body = api_post(
        app, "/api/v1/experiments/EXP-3/evaluations", csv_of(y, strong), "text/csv"
    )
    assert status == 201 and body["criterion_met"] is None, body
    assert "no success criterion" in body["criterion"]["reason"]

    posted = summaries(app, "EXP-2", 2)[0]
    credit = [b for b in posted.params["blocks"] if b["type"] == "context"][-1]
    assert "Sent by the `api` pipeline (strong.csv)" in json.dumps(credit)
    history = app.command_reply("UBOB", "/exp", "history EXP-2")
    lines = json.dumps(history.get("blocks"))
    assert "the `api` pipeline *evaluation*" in lines and "<@api>" not in lines
    assert "file: strong.csv" in lines
    metrics = app.command_reply("UBOB", "/exp", "metrics EXP-2")
    assert "by the `api` pipeline" in json.dumps(metrics.get("blocks")), metrics

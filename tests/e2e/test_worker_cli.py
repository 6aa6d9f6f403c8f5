"""`mlgov worker` on its own: it runs what another process stored, answers at the
response_url, and stops cleanly on SIGTERM; bad arguments and settings are refused."""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from storage import migrate
from storage.db import SessionFactories, create_db_engine
from storage.unit_of_work import Database
from tests.e2e.test_cli import MLGOV, clean_env, run
from tests.fakes.slack_api import FakeSlack


def test_a_worker_alone_runs_a_stored_command_and_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = clean_env(tmp_path, SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=fake_slack.api_url)
    engine = create_db_engine(env["DATABASE_URL"])
    migrate.upgrade(engine)
    body = {  # what the web process stored before its ack
        "team_id": "T1",
        "user_id": "UALICE",
        "command": "/exp",
        "text": "help",
        "channel_id": "CGENERAL",
        "response_url": fake_slack.response_url("stored"),
        "trigger_id": "trigger-1",
    }
    with Database(SessionFactories(engine)).write() as uow:
        uow.inbox.add("T1", "stored-1", "command", body, datetime.now(UTC))
        uow.commit()
    engine.dispose()
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [MLGOV, "worker", "--threads", "2"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        (reply,) = fake_slack.wait_for("response_url", timeout=60)
        assert "/exp" in reply.params["text"]  # the help of /exp
        assert reply.params["response_type"] == "ephemeral"
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0, log.read_text(errors="replace")


def test_a_worker_needs_a_bot_token(tmp_path: Path) -> None:
    result = run(tmp_path, "worker")

    assert result.returncode == 2
    assert result.stderr.strip() == "mlgov: SLACK_BOT_TOKEN is not set (a bot token, xoxb-…)."


def test_worker_counts_must_be_whole_numbers(tmp_path: Path) -> None:
    for args in (("worker", "--threads", "0"), ("serve", "--workers", "-1")):
        result = run(tmp_path, *args)

        assert result.returncode == 2
        assert "expected a whole number" in result.stderr


def test_a_worker_niceness_must_be_0_to_19(tmp_path: Path) -> None:
    for args in (("worker", "--nice", "20"), ("serve", "--worker-nice", "-1")):
        result = run(tmp_path, *args)

        assert result.returncode == 2
        assert "niceness from 0 to 19" in result.stderr or "whole number" in result.stderr

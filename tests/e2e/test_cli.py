"""The `mlgov` console script as a user runs it: serve, db, settings errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import SIGNING_SECRET
from tests.fakes.slack_api import FakeSlack

MLGOV = str(Path(sys.executable).with_name("mlgov"))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no Slack settings, the database in tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "MLGOV_", "MLFLOW_", "DATABASE_URL", "PORT"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env.update(extra)
    return env


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLGOV, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(tmp_path, **env),
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_the_verbs(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    for verb in ("serve", "shell", "db"):
        assert verb in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "http", "PORT must be a number"),
        ("MLGOV_TIMEZONE", "Mars/Olympus", "MLGOV_TIMEZONE 'Mars/Olympus' is not an IANA"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN must be a bot token"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be sqlite"),
        ("MLGOV_LOG_LEVEL", "TRACE", "MLGOV_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_invalid_settings_stop_with_one_clear_line(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = run(tmp_path, "db", "upgrade", **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("job", "list"), "did you mean 'jobs'?"),
        (("eval", "psh", "EXP-1", "f.csv"), "did you mean 'push'?"),
        (("jobs", "lsit"), "did you mean 'list'?"),
        (("db", "curent"), "did you mean 'current'?"),
    ],
)
def test_a_mistyped_verb_gets_did_you_mean(
    tmp_path: Path, args: tuple[str, ...], suggestion: str
) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert suggestion in result.stderr.strip().splitlines()[-1], result.stderr


def test_serve_needs_a_signing_secret_in_http_mode(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", SLACK_BOT_TOKEN="xoxb-1")
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    missing = run(tmp_path, "db", "current")
    assert missing.returncode == 2 and missing.stdout == ""
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "the file does not exist" in lines[0], lines
    assert str(tmp_path / "cli.db") in lines[0]
    assert not (tmp_path / "cli.db").exists()  # looking did not create it
    upgraded = run(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0 and "empty ->" in upgraded.stdout
    current = run(tmp_path, "db", "current").stdout
    revision = current.split()[1]
    assert f"this mlgov needs {revision}" in current


@pytest.fixture
def served(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[str, FakeSlack]]:
    """`mlgov serve` in its own process against the fake Slack."""
    port = free_port()
    env = clean_env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-cli",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        PORT=str(port),
        MLGOV_ADMINS="UADMIN",
    )
    process = subprocess.Popen(
        [MLGOV, "serve", "--host", "127.0.0.1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mlgov serve did not start:\n{process.communicate()[0]}")
            time.sleep(0.1)
    yield url, fake_slack
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
        assert process.returncode == 0, output
    finally:
        process.kill()
        if process.stdout is not None:
            process.stdout.close()


def test_serve_answers_signed_commands_and_stops_cleanly(
    served: tuple[str, FakeSlack],
) -> None:
    import urllib.request

    from slack_sdk.signature import SignatureVerifier

    url, fake = served
    body = urllib.parse.urlencode(
        {
            "command": "/mlgov",
            "text": "project add churn <#CCHURN|churn>",
            "team_id": "T1",
            "user_id": "UADMIN",
            "channel_id": "C1",
            "response_url": fake.response_url("cli"),
            "trigger_id": "t",
        }
    )
    ts = str(int(time.time()))
    request = urllib.request.Request(
        url + "/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
                timestamp=ts, body=body
            ),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    reply = fake.wait_for("response_url")[0]
    assert "Project *churn* created" in reply.params["text"]
    # The outbox of the served process joins the channel and introduces the project.
    fake.wait_for("conversations.join")
    intro = fake.wait_for("chat.postMessage")[0]
    assert intro.params["channel"] == "CCHURN"


def test_a_refused_bot_token_stops_the_start_with_one_line(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    fake_slack.answer("auth.test", {"ok": False, "error": "invalid_auth"})
    result = run(
        tmp_path,
        "serve",
        SLACK_BOT_TOKEN="xoxb-revoked",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake_slack.api_url,
        PORT=str(free_port()),
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "WARNING" not in line]
    assert lines == [lines[0]] and "SLACK_BOT_TOKEN was refused by Slack" in lines[0]

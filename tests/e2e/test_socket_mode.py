"""`mlgov serve` in Socket Mode: Slack's requests arrive over a WebSocket, acks go back on it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import MLGOV, clean_env, free_port
from tests.fakes.slack_api import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode

APP_TOKEN = "xapp-1-A1-socket"
# slack_sdk's Socket Mode client tunnels through HTTP(S)_PROXY and ignores NO_PROXY.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@dataclass
class Served:
    """A running `mlgov serve` process and the fakes it talks to."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    slack: FakeSlack
    socket: FakeSocketMode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str, data: bytes | None = None) -> int:
        """HTTP status of a GET (or a POST with ``data``) to the served port."""
        try:
            with urllib.request.urlopen(self.url + path, data=data, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return int(error.code)

    def stop(self) -> int:
        """SIGTERM, as a process manager does; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@pytest.fixture
def socket_mode() -> Iterator[FakeSocketMode]:
    """The fake Socket Mode endpoint."""
    with FakeSocketMode() as fake:
        yield fake


@pytest.fixture
def served(tmp_path: Path, fake_slack: FakeSlack, socket_mode: FakeSocketMode) -> Iterator[Served]:
    """`mlgov serve` with an app token and no signing secret, against both fakes."""
    fake_slack.answer("apps.connections.open", {"ok": True, "url": socket_mode.url})
    port = free_port()
    env = socket_mode_env(tmp_path, fake_slack, port)
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [MLGOV, "serve", "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Served(process, f"http://127.0.0.1:{port}", log, fake_slack, socket_mode)
    try:
        wait_until_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def socket_mode_env(tmp_path: Path, fake_slack: FakeSlack, port: int) -> dict[str, str]:
    """A clean environment for Socket Mode: an app token, no signing secret, no proxy."""
    env = clean_env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-socket",
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.api_url,
        MLGOV_ADMINS="UADMIN",
        PORT=str(port),
    )
    return {k: v for k, v in env.items() if k not in PROXY_VARIABLES}


def wait_until_healthy(served: Served) -> None:
    """Poll /healthz until the process answers 200 (or fail with its output)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if served.get("/healthz") == 200:
                return
        except OSError:
            pass
        if served.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"mlgov serve did not start:\n{served.output()}")
        time.sleep(0.1)


def slash_command(fake: FakeSlack, user: str, command: str, text: str, key: str) -> dict[str, Any]:
    """A slash command payload as Socket Mode delivers it (a dict, not a form)."""
    return {
        "token": "unused",
        "team_id": "T1",
        "team_domain": "test",
        "channel_id": "CGENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": fake.response_url(key),
        "trigger_id": f"trigger-{key}",
    }


def command_reply(served: Served, user: str, command: str, text: str, key: str) -> dict[str, Any]:
    """Send a slash command over the socket; check the ack, return the response_url post."""
    envelope_id = served.socket.send(
        "slash_commands", slash_command(served.slack, user, command, text, key)
    )
    assert served.socket.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    posts = served.slack.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)
    return posts[0].params


def mention(text: str, ts: str, event_id: str) -> dict[str, Any]:
    """An events_api payload: @mlgov mentioned by UADMIN in #CCHURN."""
    return {
        "token": "unused",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_100,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        "event": {
            "type": "app_mention",
            "user": "UADMIN",
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": "CCHURN",
        },
    }


def test_serves_slack_over_the_socket_and_stops_cleanly(served: Served) -> None:
    opened = served.slack.calls("apps.connections.open")
    assert len(opened) == 1
    assert opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert len(served.socket.connections) == 1
    # The client's keep-alive ping is answered, so it never judges the socket stale.
    served.socket.wait_until(lambda: served.socket.pings_answered >= 1, "a ping")
    # Slack's requests come over the socket: the HTTP port serves health, not Slack.
    assert served.get("/healthz") == 200
    assert served.get("/slack/events", data=b"{}") == 404

    reply = command_reply(served, "UADMIN", "/mlgov", "project add churn <#CCHURN|churn>", "add")
    assert "Project *churn* created" in reply["text"]
    intro = served.slack.wait_for("chat.postMessage")[0]
    assert intro.params["channel"] == "CCHURN"

    ts = "1700000100.000100"
    envelope_id = served.socket.send(
        "events_api", mention("<@UBOT> exp list", ts, "Ev0SOCKET1"), retry_attempt=0
    )
    assert served.socket.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    # A lookup is answered to the asker alone, in the thread.
    answer = served.slack.wait_for(
        "chat.postEphemeral", predicate=lambda c: c.params.get("thread_ts") == ts
    )[0]
    assert answer.params["channel"] == "CCHURN" and answer.params["user"] == "UADMIN"
    assert answer.headers["authorization"] == "Bearer xoxb-socket"
    assert "No experiments match" in answer.params["text"]

    assert served.stop() == 0, served.output()


def view_submission(user: str, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The interactive payload of submitting ``view`` with ``values`` per input block."""
    state: dict[str, Any] = {}
    for block in (b for b in view["blocks"] if b["type"] == "input"):
        value, element = values.get(block["block_id"]), block["element"]
        if element["type"] == "static_select":
            option = {"value": value, "text": {"type": "plain_text", "text": value}}
            entry = {"type": "static_select", "selected_option": option if value else None}
        else:
            entry = {"type": "plain_text_input", "value": value}
        state[block["block_id"]] = {element["action_id"]: entry}
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "test"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "view": {**view, "id": "V1", "state": {"values": state}},
    }


def test_form_errors_travel_back_in_the_ack(served: Served) -> None:
    command_reply(served, "UADMIN", "/mlgov", "project add churn <#CCHURN|churn>", "add")
    command_reply(served, "UADMIN", "/mlgov", "member add <@UALICE> scientist churn", "member")
    ack = served.socket.wait_for_ack(
        served.socket.send("slash_commands", slash_command(served.slack, "UALICE", "/exp", "", "f"))
    )
    assert set(ack) == {"envelope_id"}
    view = served.slack.wait_for("views.open")[0].params["view"]

    bad = {"project": "churn", "title": "", "min_delta": "x", "stream": "main"}
    envelope_id = served.socket.send("interactive", view_submission("UALICE", view, bad))
    answer = served.socket.wait_for_ack(envelope_id)["payload"]
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) >= {"title", "min_delta"}

    good = {"project": "churn", "title": "Over the socket", "hypothesis": "h", "stream": "main"}
    envelope_id = served.socket.send("interactive", view_submission("UALICE", view, good))
    assert served.socket.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    shown = command_reply(served, "UALICE", "/exp", "show EXP-1", "show")
    assert "Over the socket" in json.dumps(shown["blocks"])


def wait_for_output(served: Served, text: str, timeout: float = 10) -> str:
    """The process's output once it contains ``text`` (polled until a deadline)."""
    deadline = time.monotonic() + timeout
    while text not in (output := served.output()):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} never appeared in the output:\n{output}")
        time.sleep(0.05)
    return output


def test_a_malformed_envelope_is_logged_in_one_line_and_not_run(served: Served) -> None:
    broken = {"type": "event_callback", "team_id": "T1", "event_id": "Ev0BAD", "event": None}
    envelope_id = served.socket.send("events_api", broken)
    output = wait_for_output(
        served, "ignored a malformed Socket Mode events_api envelope: 'event' should be an object"
    )
    # The envelope was dropped without an ack (the line is written as the handler returns).
    assert all(m.get("envelope_id") != envelope_id for m in served.socket.received())
    reply = command_reply(served, "UADMIN", "/mlgov", "project add churn <#CCHURN|churn>", "add")
    assert "Project *churn* created" in reply["text"]
    assert "Traceback" not in output
    assert served.stop() == 0, served.output()


@pytest.mark.parametrize("how", ["refresh", "close"])
def test_a_new_connection_after_slack_lets_go_of_the_old_one(served: Served, how: str) -> None:
    # Slack asks apps to reconnect every few hours, and may close a socket at any time.
    if how == "refresh":
        served.socket.send_raw({"type": "disconnect", "reason": "refresh_requested"})
    else:
        served.socket.connections[0].close()
    served.socket.wait_until(
        lambda: len(served.socket.connections) == 2, "a second connection", timeout=30
    )
    opened = served.slack.calls("apps.connections.open")
    assert [c.headers["authorization"] for c in opened] == [f"Bearer {APP_TOKEN}"] * 2

    reply = command_reply(served, "UADMIN", "/mlgov", "project add churn <#CCHURN|churn>", "new")
    assert "Project *churn* created" in reply["text"]
    assert served.stop() == 0, served.output()


def test_a_refused_app_token_stops_the_start_with_one_line(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    fake_slack.answer("apps.connections.open", {"ok": False, "error": "invalid_auth"})
    result = subprocess.run(
        [MLGOV, "serve"],
        cwd=tmp_path,
        env=socket_mode_env(tmp_path, fake_slack, free_port()),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlgov:")]
    assert len(errors) == 1 and "SLACK_APP_TOKEN" in errors[0] and "invalid_auth" in errors[0]

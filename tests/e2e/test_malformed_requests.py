"""Signed but malformed Slack requests get 400 with a short reason: never a 500, never a
traceback, nothing written (SPEC §9). A fuzz of signed payloads keeps the server healthy."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.harness import SIGNING_SECRET, TEAM, AppUnderTest, HttpResult

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def payload(body: dict[str, Any]) -> str:
    """An interaction as Slack posts it: a form with the JSON in ``payload``."""
    return urllib.parse.urlencode({"payload": json.dumps(body)})


def signed_bytes(app: AppUnderTest, raw: bytes, content_type: str | None) -> HttpResult:
    """POST ``raw`` exactly, signed with the app's secret (also bytes that are not UTF-8)."""
    ts = str(int(time.time()))
    base = b"v0:" + ts.encode() + b":" + raw
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    # http.client sends only these headers (urllib would add a form Content-Type).
    connection = http.client.HTTPConnection("127.0.0.1", app.server.port, timeout=10)
    try:
        connection.request("POST", "/slack/events", body=raw, headers=headers)
        response = connection.getresponse()
        return HttpResult(response.status, response.read().decode())
    finally:
        connection.close()


MALFORMED: list[tuple[str, str | None, bytes, str]] = [
    ("event null", JSON, b'{"type":"event_callback","event_id":"Ev1","event":null}', "'event'"),
    ("a JSON array", JSON, b'[{"type":"event_callback"}]', "not an array"),
    ("a JSON number", JSON, b"42", "not a number"),
    ("a JSON string", JSON, b'"hello"', "not a string"),
    ("JSON null", JSON, b"null", "not null"),
    ("broken JSON", JSON, b'{"type": "event_callback",', "not valid JSON"),
    ("deep JSON", JSON, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("event without event_id", JSON, b'{"type":"event_callback","event":{"type":"x"}}', "event_id"),
    (
        "mention without channel",
        JSON,
        b'{"type":"event_callback","event_id":"Ev2","event":{"type":"app_mention","ts":"1.1"}}',
        "'event.channel' is missing",
    ),
    (
        "view_submission without view.id and view.state",
        FORM,
        payload(
            {
                "type": "view_submission",
                "user": {"id": "UALICE"},
                "view": {"callback_id": "exp_new"},
            }
        ).encode(),
        "'view.id' is missing",
    ),
    (
        "view state values not objects",
        FORM,
        payload(
            {
                "type": "view_submission",
                "user": {"id": "UALICE"},
                "view": {
                    "id": "V1",
                    "type": "modal",
                    "callback_id": "exp_new",
                    "state": {"values": {"t": 5}},
                },
            }
        ).encode(),
        "'view.state.values.t'",
    ),
    ("payload=%7B", FORM, b"payload=%7B", "not valid JSON"),
    (
        "block_actions without actions",
        FORM,
        payload({"type": "block_actions", "user": {"id": "UALICE"}, "team": {"id": TEAM}}).encode(),
        "'actions' is missing",
    ),
    (
        "block_actions with an empty list",
        FORM,
        payload({"type": "block_actions", "user": {"id": "UALICE"}, "actions": []}).encode(),
        "'actions.0' is missing",
    ),
    (
        "team as a number",
        FORM,
        payload(
            {
                "type": "block_actions",
                "team": 7,
                "user": {"id": "U"},
                "actions": [{"action_id": "a"}],
            }
        ).encode(),
        "'team'",
    ),
    ("command without command", FORM, b"team_id=T1&user_id=UALICE&text=list", "'command'"),
    ("command without user_id", FORM, b"team_id=T1&command=%2Fexp&text=list", "'user_id'"),
    ("text/plain", "text/plain", b"command=/exp", "content type"),
    ("no content type", None, b'{"type":"event_callback"}', "content type"),
    ("XML", "application/xml", b"<event/>", "content type"),
    ("not UTF-8", JSON, b'{"type":"event_callback","event_id":"\xff\xfe"}', "not UTF-8"),
    ("empty", FORM, b"", "empty"),
]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record logged meanwhile, the server's threads included (``logs.records``)."""
    caplog.set_level(logging.INFO)
    return caplog


@pytest.mark.parametrize(
    ("content_type", "raw", "reason"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_signed_malformed_body_gets_400_with_a_reason(
    app: AppUnderTest,
    logs: pytest.LogCaptureFixture,
    content_type: str | None,
    raw: bytes,
    reason: str,
) -> None:
    result = signed_bytes(app, raw, content_type)
    assert result.status == 400, result
    assert result.body.startswith("Malformed Slack request:") and reason in result.body
    assert len(result.body) < 200
    assert not [r for r in logs.records if r.exc_info], "a traceback was logged"
    said = [r.getMessage() for r in logs.records if r.name == "bot.slack.http"]
    assert len(said) == 1 and reason in said[0]
    assert app.fake.calls("response_url") == [] and app.fake.calls("views.open") == []
    assert app.count("processed_events") == 0


def test_unsigned_malformed_body_still_gets_401(app: AppUnderTest) -> None:
    for body in ("payload=%7B", "[1, 2]", '{"type":"event_callback","event":null}'):
        assert app.post("/slack/events", body, {"Content-Type": FORM}).status == 401
        forged = app.signed(body, FORM, secret="not-the-secret")
        assert forged.status == 401
    stale = app.signed("payload=%7B", FORM, timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    for timestamp, signature in (("soon", "v0=1"), (str(int(time.time())), "v0=\u00e9")):
        garbled = app.post(
            "/slack/events",
            "payload=%7B",
            {
                "Content-Type": FORM,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            },
        )
        assert garbled.status == 401


def test_slacks_unsigned_ssl_check_is_still_answered(app: AppUnderTest) -> None:
    result = app.post("/slack/events", "ssl_check=1&token=x", {"Content-Type": FORM})
    assert result.status == 200


@pytest.mark.parametrize("probe", ["ssl_check=1&", "ssl_check=1&ssl_check=&"])
def test_an_unsigned_command_dressed_as_an_ssl_check_does_nothing(
    app: AppUnderTest, probe: str
) -> None:
    """Bolt does not verify signatures again behind the guard, so the guard must not hand
    an unsigned body on: one that reads as Slack's probe is answered, and nothing runs
    (Bolt reads a repeated ssl_check= as blank and would have run the command)."""
    body, _ = app.command_body("UADMIN", "/mlgov", "project add evil <#CEVIL|evil>")
    result = app.post("/slack/events", probe + body, {"Content-Type": FORM})
    assert result.status == 200 and result.body == ""
    assert app.count("inbox") == 0
    assert app.count("projects") == 0


def test_well_formed_requests_still_pass_the_guard(app: AppUnderTest) -> None:
    reply = app.command_reply("UADMIN", "/mlgov", "project add churn <#CCHURN|churn>")
    assert "Project *churn* created" in reply["text"]
    challenge = app.signed(
        json.dumps({"type": "url_verification", "challenge": "abc", "token": "t"}), JSON
    )
    assert challenge.status == 200 and challenge.json() == {"challenge": "abc"}


# --- the fuzz ---------------------------------------------------------------------------

MENTION = {
    "token": "t",
    "team_id": TEAM,
    "api_app_id": "A1",
    "type": "event_callback",
    "event_id": "Ev0FUZZ",
    "event_time": 1_700_000_100,
    "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
    "event": {
        "type": "app_mention",
        "user": "UALICE",
        "text": "<@UBOT> exp list",
        "ts": "1700000100.000100",
        "channel": "CCHURN",
        "event_ts": "1700000100.000100",
        "edited": {"user": "UALICE", "ts": "1700000101.000100"},
    },
}
BUTTON = {
    "type": "block_actions",
    "team": {"id": TEAM, "domain": "test"},
    "user": {"id": "UALICE", "team_id": TEAM},
    "api_app_id": "A1",
    "trigger_id": "t1",
    "response_url": "(the fake's)",
    "container": {"type": "view", "view_id": "V1"},
    "view": {"id": "V1", "type": "home", "app_installed_team_id": TEAM},
    "channel": {"id": "CCHURN"},
    "actions": [{"type": "button", "action_id": "exp_start", "block_id": "b", "value": "EXP-1"}],
}
SUBMISSION = {
    "type": "view_submission",
    "team": {"id": TEAM, "domain": "test"},
    "user": {"id": "UALICE", "team_id": TEAM},
    "api_app_id": "A1",
    "view": {
        "id": "V1",
        "type": "modal",
        "callback_id": "exp_conclude",
        "private_metadata": "EXP-1",
        "blocks": [{"type": "input", "block_id": "learnings"}],
        "state": {
            "values": {
                "outcome": {
                    "o": {"type": "static_select", "selected_option": {"value": "success"}}
                },
                "learnings": {"l": {"type": "plain_text_input", "value": "x"}},
            }
        },
    },
}
COMMAND = {
    "team_id": TEAM,
    "user_id": "UALICE",
    "command": "/exp",
    "text": "list",
    "channel_id": "CCHURN",
    "response_url": "(the fake's)",
    "trigger_id": "t2",
}
TEMPLATES = {"event": MENTION, "interaction": BUTTON, "form": SUBMISSION, "command": COMMAND}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "EXP-1", "exp_start", "app_mention", TEAM, "UALICE"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``node`` (keys and list indexes), the node's own children first."""
    if isinstance(node, dict):
        children: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


@st.composite
def mutated(draw: st.DrawFn, response_url: str) -> tuple[str, bytes]:
    """A real request's body with one to three paths removed or replaced, as Slack sends it."""
    kind = draw(st.sampled_from(sorted(TEMPLATES)))
    body = copy.deepcopy(TEMPLATES[kind])
    if "response_url" in body:
        body["response_url"] = response_url
    for _ in range(draw(st.integers(1, 3))):
        found = list(paths(body))
        if not found:
            break
        *parents, last = draw(st.sampled_from(found))
        holder: Any = body
        for key in parents:
            holder = holder[key]
        if draw(st.booleans()):
            del holder[last]
        else:
            holder[last] = draw(json_values)
    if kind == "event":
        return JSON, json.dumps(body).encode()
    if kind == "command":
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return FORM, urllib.parse.urlencode(flat).encode()
    return FORM, payload(body).encode()


raw_bodies = st.tuples(
    st.sampled_from([JSON, FORM, "text/plain", "application/json; charset=utf-8"]),
    st.binary(max_size=64)
    | json_values.map(lambda v: json.dumps(v).encode())
    | json_values.map(lambda v: b"payload=" + urllib.parse.quote(json.dumps(v)).encode()),
)


@settings(
    max_examples=int(os.environ.get("MLGOV_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_signed_payloads_never_get_a_5xx(
    app: AppUnderTest, logs: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    content_type, raw = data.draw(mutated(app.fake.response_url("fuzz")) | raw_bodies)
    result = signed_bytes(app, raw, content_type)
    assert result.status < 500, (raw, result)
    assert app.get("/healthz").status == 200
    assert not [r for r in logs.records if r.exc_info and r.name.startswith(("bot", "mlgov"))]

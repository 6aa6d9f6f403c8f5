"""The real HTTP app under test, and a client that sends what Slack sends, signed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.runtime import Runtime
from bot.server import HttpServer
from bot.services.delivery import RetryPolicy
from bot.slack.app import build_bolt_app, web_client
from bot.slack.web_api import WebApi
from tests.fakes.slack_api import FakeSlack

SIGNING_SECRET = "test-signing-secret"
TEAM = "T1"
ADMIN = "UADMIN"
API_TOKEN = "pipeline-secret"
API_READ_TOKEN = "dashboard-secret"


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class AppUnderTest:
    """`mlgov serve`'s parts, on port 0, against ``fake`` as the Slack Web API."""

    def __init__(
        self,
        fake: FakeSlack,
        database_url: str,
        *,
        poll_seconds: float = 0.2,
        first_retry_delay: float = 0.05,
        settings: dict[str, Any] | None = None,
        public_url: str | None = None,
    ) -> None:
        self.fake = fake
        self.settings = Settings(
            public_url=public_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.api_url,
            database_url=database_url,
            admins=frozenset({ADMIN}),
            api_token=API_TOKEN,
            api_read_token=API_READ_TOKEN,
            **(settings or {}),  # e.g. mlflow_tracking_uri
        )
        self.runtime = Runtime.create(self.settings)
        client = web_client("xoxb-test", fake.api_url)
        # Short backoff so that tests of Slack outages take a fraction of a second.
        self.runtime.start_outbox(
            WebApi(client),
            poll_seconds,
            RetryPolicy(
                first_delay=first_retry_delay,
                max_delay=1.0,
                min_delay=first_retry_delay,
                probe_paused_every=timedelta(seconds=poll_seconds),
            ),
        )
        # Stored requests run on worker threads, as in an embedded `mlgov serve`.
        self.runtime.start_inbox(client, threads=4, poll_seconds=poll_seconds)
        self.runtime.start_registry(poll_seconds=poll_seconds)  # when MLflow is set
        self.bolt = build_bolt_app(client, SIGNING_SECRET, self.runtime.dispatcher)
        self.server = HttpServer(self.runtime.web_app(self.bolt), threads=8).start()
        self.url = self.server.url
        self.signer = SignatureVerifier(SIGNING_SECRET)
        self._responses = 0

    def setup_team(self) -> None:
        """Project churn in #CCHURN; alice and bob scientists, mia manager, erin engineer."""
        self.command_reply(ADMIN, "/mlgov", "project add churn <#CCHURN|churn>")
        for user, role in (
            ("UALICE", "scientist"),
            ("UBOB", "scientist"),
            ("UMIA", "manager"),
            ("UERIN", "engineer"),
        ):
            self.command_reply(ADMIN, "/mlgov", f"member add <@{user}> {role} churn")

    def count(self, table: str) -> int:
        """Rows in ``table`` (to show that a refused request wrote nothing)."""
        from sqlalchemy import text

        with self.runtime.db.engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    def idle(self) -> bool:
        """Whether every stored request has run and every queued message gone out."""
        inbox, outbox = self.runtime.inbox, self.runtime.outbox
        assert inbox is not None and outbox is not None
        return inbox.store.pending_count() == 0 and outbox.store.pending_count() == 0

    def close(self) -> None:
        self.server.stop()
        self.runtime.close()

    # --- raw HTTP -------------------------------------------------------------------

    def post(self, path: str, body: str, headers: dict[str, str]) -> HttpResult:
        request = urllib.request.Request(self.url + path, data=body.encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HttpResult(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return HttpResult(error.code, error.read().decode())

    def get(self, path: str) -> HttpResult:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return HttpResult(response.status, response.read().decode(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return HttpResult(error.code, error.read().decode(), dict(error.headers))

    def signed(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> HttpResult:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signer = self.signer if secret is None else SignatureVerifier(secret)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signer.generate_signature(timestamp=ts, body=body),
            **(extra or {}),
        }
        return self.post("/slack/events", body, headers)

    # --- what Slack sends -----------------------------------------------------------

    def command_body(self, user: str, command: str, text: str, team: str = TEAM) -> tuple[str, str]:
        """A slash command payload; returns (form body, its response_url key)."""
        self._responses += 1
        key = f"r{self._responses}"
        form = {
            "token": "unused",
            "team_id": team,
            "team_domain": "test",
            "channel_id": "CGENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.fake.response_url(key),
            "trigger_id": f"trigger-{key}",
        }
        return urllib.parse.urlencode(form), key

    def command(self, user: str, command: str, text: str, **kwargs: Any) -> HttpResult:
        body, _ = self.command_body(user, command, text)
        return self.signed(body, "application/x-www-form-urlencoded", **kwargs)

    def command_reply(self, user: str, command: str, text: str, team: str = TEAM) -> dict[str, Any]:
        """Run a slash command (in workspace ``team``) and return what it answered at its
        response_url."""
        body, key = self.command_body(user, command, text, team)
        result = self.signed(body, "application/x-www-form-urlencoded")
        assert result.status == 200, result
        calls = self.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)
        return calls[-1].params

    def event(
        self, event: dict[str, Any], event_id: str, *, retry: int | None = None, team: str = TEAM
    ) -> HttpResult:
        payload = {
            "token": "unused",
            "team_id": team,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
        extra = {}
        if retry is not None:
            extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.signed(json.dumps(payload), "application/json", extra=extra)

    def interaction(self, payload: dict[str, Any]) -> HttpResult:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.signed(body, "application/x-www-form-urlencoded")

    def button(self, user: str, action_id: str, value: str) -> tuple[HttpResult, str]:
        """Press a button; returns the HTTP result and the response_url key."""
        self._responses += 1
        key = f"b{self._responses}"
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A1",
            "trigger_id": f"trigger-{key}",
            "response_url": self.fake.response_url(key),
            "container": {"type": "message", "channel_id": "CCHURN", "message_ts": "1.2"},
            "channel": {"id": "CCHURN"},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "steps",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.interaction(payload), key

    def submit_view(
        self,
        user: str,
        view: dict[str, Any],
        values: dict[str, str],
        *,
        team: str = TEAM,
        installed_team: str | None = None,
    ) -> HttpResult:
        """Submit ``view`` (as opened through views.open) with ``values`` per block id.

        A Slack Connect member of another workspace submits with ``team`` theirs and
        ``installed_team`` (``view.app_installed_team_id``) the one that installed mlgov.
        """
        state: dict[str, Any] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            value = values.get(block["block_id"])
            element = block["element"]
            if element["type"] == "static_select":
                entry = {
                    "type": "static_select",
                    "selected_option": {
                        "value": value,
                        "text": {"type": "plain_text", "text": value or ""},
                    }
                    if value
                    else None,
                }
            else:
                entry = {"type": "plain_text_input", "value": value}
            state[block["block_id"]] = {element["action_id"]: entry}
        payload = {
            "type": "view_submission",
            "team": {"id": team, "domain": "test"},
            "user": {"id": user, "team_id": team},
            "api_app_id": "A1",
            "view": {**view, "id": "V1", "state": {"values": state}},
        }
        if installed_team is not None:
            payload["view"]["app_installed_team_id"] = installed_team
        return self.interaction(payload)

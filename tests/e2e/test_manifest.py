"""manifest.yml creates the app as the code expects it: checked both ways."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from bot.services.installs import INSTALL_EVENTS
from bot.slack.listeners.commands import COMMANDS
from bot.slack.listeners.events import EVENTS
from tests.e2e.harness import ADMIN, AppUnderTest

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
# Scope each Web API method needs (docs.slack.dev/reference/methods). A method the app
# starts calling must be added here, and its scope to manifest.yml.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",  # a file (the digest's chart) into a DM
    "users.info": "users:read",
    "users.profile.get": "users.profile:read",  # Slack statuses: who is away
    "views.open": None,
    "views.publish": None,  # the Home tab
    # Downloading a shared file's url_private needs files:read (the fake logs it so).
    "file.download": "files:read",
    "files.info": "files:read",
    "files.getUploadURLExternal": "files:write",
    "file.upload": None,  # the bytes, to the URL files.getUploadURLExternal gave
    "files.completeUploadExternal": "files:write",
}
# Scopes that no Web API call needs but that a surface does.
SURFACE_SCOPES = {"commands": "slash commands", "app_mentions:read": "app_mention events"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_commands_match_the_app_both_ways(manifest: dict[str, Any]) -> None:
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(COMMANDS)
    for command in manifest["features"]["slash_commands"]:
        assert command["should_escape"] is True, command["command"]


def test_events_match_the_app_both_ways(manifest: dict[str, Any]) -> None:
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert subscribed == set(EVENTS) | set(INSTALL_EVENTS)
    # Slack sends the uninstall events only to apps subscribed to them.
    assert {"app_uninstalled", "tokens_revoked"} <= subscribed


def test_app_answers_every_declared_event(app: AppUnderTest, manifest: dict[str, Any]) -> None:
    """Bolt answers an event without a listener with 404, and Slack disables delivery to an
    app that keeps failing: every subscribed event must get its 200."""
    for n, name in enumerate(manifest["settings"]["event_subscriptions"]["bot_events"]):
        event = {"type": name, "user": "UALICE", "channel": "D1", "text": "", "ts": "1.1"}
        event["tab"] = "messages"  # app_home_opened from the Messages tab: answered, ignored
        assert app.event(event, f"EvDeclared{n}").status == 200, name
    assert app.event({"type": "reaction_added", "user": "UALICE"}, "EvNot").status == 404


def test_the_home_tab_is_on_exactly_when_the_app_publishes_it(manifest: dict[str, Any]) -> None:
    """A Home tab nobody publishes shows Slack's empty placeholder; one the app publishes
    to must be enabled and its opening subscribed to."""
    assert "app_home_opened" in EVENTS
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_every_request_url_is_the_events_endpoint(manifest: dict[str, Any]) -> None:
    urls = [c["url"] for c in manifest["features"]["slash_commands"]]
    urls.append(manifest["settings"]["event_subscriptions"]["request_url"])
    urls.append(manifest["settings"]["interactivity"]["request_url"])
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert {urlparse(u).path for u in urls} == {"/slack/events"}
    assert {urlparse(u).scheme for u in urls} == {"https"}


def test_within_slack_manifest_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert len(manifest["features"]["bot_user"]["display_name"]) <= 80
    commands = manifest["features"]["slash_commands"]
    assert len(commands) <= 50
    for c in commands:
        assert c["command"].startswith("/") and len(c["command"]) <= 32
        assert len(c["description"]) <= 2000 and len(c.get("usage_hint", "")) <= 1000


def test_app_answers_every_declared_command_and_nothing_else(
    app: AppUnderTest, manifest: dict[str, Any]
) -> None:
    for command in manifest["features"]["slash_commands"]:
        reply = app.command_reply("UALICE", command["command"], "help")
        assert command["command"] in reply["text"]
    assert app.command("UALICE", "/undeclared", "help").status == 404


def test_scopes_are_exactly_what_the_app_uses(app: AppUnderTest, manifest: dict[str, Any]) -> None:
    """Drive every surface, then compare the Web API methods called with the scopes."""
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn Scoped --hypothesis h --metric auc")
    app.command("UALICE", "/exp", "")  # opens the form
    # Picking reviewers reads their Slack statuses (users.profile.get).
    app.command_reply(ADMIN, "/mlgov", "rules churn quorum=1")
    app.command_reply("UALICE", "/review", "request EXP-1 design")
    app.fake.wait_for("users.profile.get")
    app.event(
        {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> exp list",
            "ts": "1.5",
            "channel": "CCHURN",
        },
        "EvScopes",
    )
    app.event(
        {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> exp nope",
            "ts": "1.6",
            "channel": "CCHURN",
        },
        "EvScopes2",
    )
    data = b"y_true,y_score\n0,0.1\n1,0.8\n0,0.3\n1,0.6\n"
    url = app.fake.host_file("T1-F1/preds.csv", data)
    app.event(
        {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> eval EXP-1",
            "ts": "1.7",
            "channel": "CCHURN",
            "files": [{"id": "F1", "name": "preds.csv", "size": len(data), "url_private": url}],
        },
        "EvScopes3",
    )
    app.fake.wait_for("files.completeUploadExternal", timeout=30)
    app.button("UALICE", "exp_start", "EXP-1")
    app.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"}, "EvScopes4")
    app.fake.wait_for("views.publish")
    # The weekly digest: a DM to the manager, its chart uploaded into the DM's thread.
    from bot.services.digest import run_digest

    monday = datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())
    at = monday.replace(hour=8, minute=0, second=0, microsecond=0)
    assert run_digest(app.runtime.db, app.runtime.dispatcher.notices, at, "UTC")
    app.fake.wait_for("conversations.open", timeout=30)
    app.fake.wait_for("views.open")
    app.fake.wait_for("chat.postEphemeral")
    app.fake.wait_for("chat.update")
    time.sleep(0.3)
    called = {c.method for c in app.fake.calls()} - {"response_url"}
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these methods (and their scopes) to METHOD_SCOPES: {unknown}"
    needed = {METHOD_SCOPES[m] for m in called} - {None} | set(SURFACE_SCOPES)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed

"""Whose workspace a Slack request is about, and which bodies are malformed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.requests import body_problem, installing_team

OURS, THEIRS = "TOURS", "TTHEIRS"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A Slack Connect member submits a form: team is theirs, the view says ours.
        (
            {
                "type": "view_submission",
                "team": {"id": THEIRS},
                "user": {"id": "U1", "team_id": THEIRS},
                "view": {"id": "V1", "app_installed_team_id": OURS, "team_id": THEIRS},
            },
            OURS,
        ),
        # A button in a message of a shared channel: team is the installing workspace.
        (
            {"type": "block_actions", "team": {"id": OURS}, "user": {"team_id": THEIRS}},
            OURS,
        ),
        # An event in a shared channel: the installation is in authorizations.
        (
            {
                "type": "event_callback",
                "team_id": THEIRS,
                "authorizations": [{"team_id": OURS, "user_id": "UBOT"}],
                "event": {"team": THEIRS},
            },
            OURS,
        ),
        ({"command": "/exp", "team_id": OURS, "user_id": "U1"}, OURS),
        # Org-wide installs send team: null on interactions.
        ({"type": "block_actions", "team": None, "user": {"id": "U1", "team_id": OURS}}, OURS),
        ({"type": "event_callback", "event": {"team": OURS}}, OURS),
        ({"type": "view_closed", "view": {"team_id": OURS}}, OURS),
        ({}, ""),
    ],
)
def test_installing_team(body: dict[str, Any], expected: str) -> None:
    assert installing_team(body) == expected


WELL_FORMED: list[dict[str, Any]] = [
    {
        "command": "/exp",
        "team_id": OURS,
        "user_id": "U1",
        "text": "",
        "response_url": "https://hooks.slack.com/x",
    },
    {"type": "url_verification", "challenge": "c", "token": "t"},
    {
        "type": "event_callback",
        "event_id": "Ev1",
        "team_id": OURS,
        "authorizations": [{"team_id": OURS, "enterprise_id": None, "is_bot": True}],
        "event": {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.2", "text": ""},
    },
    {"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_home_opened"}},
    {
        "type": "block_actions",
        "team": {"id": OURS},
        "enterprise": None,
        "user": {"id": "U1", "team_id": OURS},
        "channel": {"id": "C1"},
        "actions": [{"action_id": "exp_start", "value": "EXP-1"}],
    },
    {
        "type": "view_submission",
        "team": {"id": OURS},
        "user": {"id": "U1"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "exp_new",
            "blocks": [{"type": "input", "block_id": "title"}],
            "state": {"values": {"title": {"t": {"type": "plain_text_input", "value": None}}}},
        },
    },
    {"type": "shortcut", "callback_id": "s", "user": {"id": "U1"}},  # Bolt answers 404
]


@pytest.mark.parametrize("body", WELL_FORMED, ids=lambda b: b.get("type") or "command")
def test_what_slack_sends_is_well_formed(body: dict[str, Any]) -> None:
    assert body_problem(body) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "the body should be a JSON object, not an array"),
        ({"type": 3}, "'type' should be a string, not a number"),
        ({"type": "event_callback", "event_id": "E", "event": None}, "'event' should be an object"),
        ({"type": "block_actions", "user": {"id": True}}, "'user.id' should be a string"),
        (
            {
                "type": "event_callback",
                "event_id": "E",
                "event": {"type": "x", "message": {"user": {"id": 1}}},
            },
            "'event.message.user.id' should be a string, not a number",
        ),
        (
            {"type": "x", "authorizations": [{"team": 5}]},
            "'authorizations.0.team' should be an object or a string or null",
        ),
        (
            {"type": "x", "event": {"message": {"message": {"message": {"message": {}}}}}},
            "'event.message.message.message.message' is nested too deeply",
        ),
        ({"type": "view_submission", "user": {"id": "U"}}, "'view' is missing"),
        ({"token": "t"}, "'command' is missing"),
    ],
)
def test_malformed_bodies_are_named(body: object, problem: str) -> None:
    said = body_problem(body)
    assert said is not None and problem in said

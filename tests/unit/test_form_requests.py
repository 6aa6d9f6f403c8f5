"""Which Slack requests are answered by a form, and so stored urgent in the inbox (its
trigger_id is good for 3 s): decided by the tables the dispatcher opens forms by, and
every place that builds a form reads them (checked from the source with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from bot.slack import dispatch
from bot.slack.blocks.experiments import ACTION_PREFIX, BUTTONS
from bot.slack.blocks.reviews import APPROVE, CHANGES, DECLINE
from bot.slack.handlers import HANDLERS
from bot.slack.inbox_replies import answered_by_form
from bot.slack.parsing import PARSERS, USAGE

ROOT = Path(__file__).resolve().parents[2]


def command(name: str, text: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"command": name, "user_id": "UALICE"}
    if text is not None:  # Slack may leave it out when nothing was typed
        body["text"] = text
    return body


def button(action_id: str) -> dict[str, Any]:
    return {"user": {"id": "UALICE"}, "actions": [{"action_id": action_id, "value": "EXP-1"}]}


@pytest.mark.parametrize(
    ("kind", "body", "urgent"),
    [
        ("command", command("/exp", None), True),
        ("command", command("/exp", ""), True),
        ("command", command("/exp", "new"), True),
        ("command", command("/EXP", "  NEW  "), True),
        ("command", command("/exp", "new churn Faster trees"), False),
        ("command", command("/exp", "list"), False),
        ("command", command("/exp", "nwe"), False),  # answered by its usage
        ("command", command("/nope", ""), False),
        ("action", button(ACTION_PREFIX + "conclude"), True),
        ("action", button(ACTION_PREFIX + "abandon"), True),
        ("action", button(CHANGES), True),
        ("action", button(ACTION_PREFIX + "start"), False),
        ("action", button(ACTION_PREFIX + "analyze"), False),
        ("action", button(APPROVE), False),
        ("action", button(DECLINE), False),
        ("action", button("exp_bogus"), False),
        # A mention never opens a form, even one that asks for it (it is refused).
        ("event", {"event": {"type": "app_mention", "text": "<@UBOT> exp new"}}, False),
    ],
)
def test_requests_answered_by_a_form_are_urgent(
    kind: str, body: dict[str, Any], urgent: bool
) -> None:
    assert answered_by_form(kind, body) is urgent


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_of_every_command_and_subcommand_typed_bare_only_exp_new_opens_a_form(name: str) -> None:
    assert answered_by_form("command", command(f"/{name}", "")) is (name == "exp")
    for sub in USAGE.get(name, {}):
        opens = (name, sub) == ("exp", "new")
        assert answered_by_form("command", command(f"/{name}", sub)) is opens, sub


def test_every_button_is_known_to_the_classification() -> None:
    """A new button must say whether it opens a form (STEP_FORMS or not)."""
    forms = {ACTION_PREFIX + step for step in dispatch.STEP_FORMS} | set(dispatch.REVIEW_FORMS)
    every = {ACTION_PREFIX + step for step in BUTTONS} | {APPROVE, CHANGES, DECLINE}
    assert forms <= every
    assert {a for a in every if answered_by_form("action", button(a))} == forms


def form_sites() -> dict[str, list[ast.Call]]:
    """``module:function`` -> the calls in it that pass a form (``modal=``), across bot/."""
    sites: dict[str, list[ast.Call]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, node in _functions(tree):
            calls = [
                call
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and any(k.arg == "modal" for k in call.keywords)
            ]
            if calls:
                sites[f"{module}:{scope}"] = calls
    return sites


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef]]:
    found: list[tuple[str, ast.FunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found += [
                (f"{node.name}.{item.name}", item)
                for item in node.body
                if isinstance(item, ast.FunctionDef)
            ]
    return found


def test_every_place_that_builds_a_form_is_one_the_classification_reads() -> None:
    """A form built anywhere else would wait behind long work and miss its 3 s: add it to
    dispatch.STEP_FORMS, REVIEW_FORMS or FORM_COMMANDS (and to this test)."""
    sites = form_sites()
    handlers = {site for site in sites if site.startswith("bot.slack.handlers.")}
    assert set(sites) - handlers == {
        "bot.slack.dispatch:Dispatcher.action",
        "bot.slack.dispatch:Dispatcher._review_button",
    }
    # A handler that builds a form handles only commands classified as forms, and each
    # of those has one.
    handled = {
        kind
        for kind, handler in HANDLERS.items()
        if f"{handler.__module__}:{handler.__qualname__}" in handlers
    }
    assert handled == set(dispatch.FORM_COMMANDS)
    # The dispatcher's buttons build their form from the tables: form = *_FORMS.get(...).
    source = ast.parse((ROOT / "bot/slack/dispatch.py").read_text(encoding="utf-8"))
    methods = dict(_functions(source))
    tables = {"Dispatcher.action": "STEP_FORMS", "Dispatcher._review_button": "REVIEW_FORMS"}
    for name, table in tables.items():
        (call,) = sites[f"bot.slack.dispatch:{name}"]
        modal = next(k.value for k in call.keywords if k.arg == "modal")
        assert isinstance(modal, ast.Call) and ast.unparse(modal.func) == "form"
        assigned = [
            ast.unparse(node.value)
            for node in ast.walk(methods[name])
            if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "form"
        ]
        assert assigned and all(value.startswith(f"{table}.get(") for value in assigned), name

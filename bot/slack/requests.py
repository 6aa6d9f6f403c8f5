"""What a Slack request must look like before Bolt sees it, and whose workspace it is.

Slack signs what it sends, but a signed body can still be malformed (a proxy, a replay
tool, a Slack change): Bolt and our listeners index into it freely and would answer 500
with a traceback. ``body_problem`` names the first thing wrong, in a few words, so the
edge can answer 400 (HTTP) or not act (Socket Mode) instead. The shapes are data: the
fields each kind of request needs, and the types of the fields Bolt reads on every
request (``slack_bolt.request.internals.build_context``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

# JSON's types as Python sees them (bool is left out on purpose: no field is a bool).
NULL = type(None)
Types = tuple[type, ...]


@dataclass(frozen=True)
class Field:
    """A dotted path (``*`` for every item of a list or value of an object) and its types."""

    path: str
    types: Types
    required: bool
    parts: tuple[str, ...] = dataclass_field(init=False)
    plain: bool = dataclass_field(init=False)  # keys only: looked up without the walk

    def __post_init__(self) -> None:
        parts = tuple(self.path.split("."))
        object.__setattr__(self, "parts", parts)
        plain = not any(part == "*" or part.lstrip("-").isdigit() for part in parts)
        object.__setattr__(self, "plain", plain)


def need(path: str, *types: type) -> Field:
    return Field(path, types, True)


def may(path: str, *types: type) -> Field:
    return Field(path, types, False)


# Fields Bolt reads on every request, at the top and again inside the objects it descends
# into while looking for the team, the user and the channel.
IDS = (
    may("team", dict, str, NULL),
    may("team.id", str, NULL),
    may("enterprise", dict, str, NULL),
    may("enterprise.id", str, NULL),
    may("user", dict, str, NULL),
    may("user.id", str),
    may("user.team_id", str, NULL),
    may("channel", dict, str, NULL),
    may("channel.id", str),
    may("authorizations", list, NULL),
    may("authorizations.*", dict),
)
NESTED = tuple(
    tuple(path.split("."))
    for path in (
        "event",
        "message",
        "previous_message",
        "item",
        "assistant_thread",
        "authorizations.*",
    )
)
DEEPEST = 4  # Slack nests these at most three deep (event.message.user); Bolt recurses
COMMON = (
    may("type", str),
    may("team_id", str, NULL),
    may("user_id", str),
    may("channel_id", str),
    may("response_url", str),
    may("response_urls", list),
    may("response_urls.*", dict),
    may("response_urls.*.response_url", str),
    may("trigger_id", str),
    may("event", dict),
    may("event.message", dict),
    may("event.previous_message", dict),
    may("container", dict),
    may("view", dict),
    may("view.app_installed_team_id", str, NULL),
    may("view.team_id", str, NULL),
)
SHAPES: dict[str, tuple[Field, ...]] = {
    "command": (
        need("command", str),
        need("user_id", str),
        need("team_id", str),
        need("response_url", str),
        may("text", str),
    ),
    "url_verification": (need("challenge", str),),
    "event_callback": (
        need("event_id", str),
        need("event", dict),
        need("event.type", str),
        may("event.user", str),
        may("event.channel", str),
        may("event.ts", str),
        may("event.thread_ts", str),
        may("event.text", str),
        may("event.subtype", str),
        may("event.tab", str),
        may("event.edited", dict),
        may("event.files", list),
        may("event.files.*", dict),
    ),
    "block_actions": (
        need("user.id", str),
        need("actions", list),
        need("actions.0", dict),
        may("actions.*", dict),
        need("actions.0.action_id", str),
        may("actions.*.action_id", str),
        may("actions.*.value", str),
    ),
    "view_submission": (
        need("user.id", str),
        need("view", dict),
        need("view.id", str),
        need("view.callback_id", str),
        need("view.type", str),
        need("view.state", dict),
        need("view.state.values", dict),
        may("view.state.values.*", dict),
        may("view.state.values.*.*", dict),
        may("view.state.values.*.*.value", str, NULL),
        may("view.state.values.*.*.selected_option", dict, NULL),
        may("view.state.values.*.*.selected_option.value", str),
        may("view.private_metadata", str),
        may("view.blocks", list),
        may("view.blocks.*", dict),
        may("view.blocks.*.block_id", str),
        may("view.blocks.-1", dict),
        need("view.blocks.-1.block_id", str),  # a refusal is shown on the last block
    ),
    # Kinds mlgov does not serve, checked only as far as Bolt reads them before its 404.
    "interactive_message": (need("actions", list), need("actions.0", dict)),
    "workflow_step_edit": (need("workflow_step", dict),),
    "view_closed": (
        need("user.id", str),
        need("view", dict),
        need("view.id", str),
        need("view.callback_id", str),
    ),
}
WORKFLOW_STEP = (need("workflow_step", dict),)  # Bolt reads it from such a view
EVENTS: dict[str, tuple[Field, ...]] = {
    "app_mention": (need("event.channel", str), need("event.ts", str)),
}


def body_problem(body: object) -> str | None:
    """What is wrong with a parsed Slack body, in a few words; None when it may be served."""
    if not isinstance(body, dict):
        return f"the body should be a JSON object, not {_json_name(body)}"
    if "command" in body or "type" not in body:
        kind = "command"
    elif isinstance(body["type"], str):
        kind = body["type"]
    else:
        return f"'type' should be a string, not {_json_name(body['type'])}"
    fields = COMMON + SHAPES.get(kind, ())
    event = body.get("event")
    if kind == "event_callback" and isinstance(event, dict):
        fields += EVENTS.get(str(event.get("type")), ())
    view = body.get("view")
    if kind == "view_submission" and isinstance(view, dict) and view.get("type") == "workflow_step":
        fields += WORKFLOW_STEP
    return _first_problem(body, fields) or _ids_problem(body, "", DEEPEST)


def _ids_problem(node: dict[str, Any], where: str, depth: int) -> str | None:
    problem = _first_problem(node, IDS, where)
    if problem:
        return problem
    for path in NESTED:
        for child_path, child in _found(node, path, where):
            if isinstance(child, dict):
                if depth == 0:
                    return f"'{child_path}' is nested too deeply"
                problem = _ids_problem(child, child_path + ".", depth - 1)
                if problem:
                    return problem
    return None


def _first_problem(body: dict[str, Any], fields: tuple[Field, ...], where: str = "") -> str | None:
    for field in fields:
        found = (
            _plain(body, field.parts, where)
            if field.plain
            else list(_found(body, field.parts, where))
        )
        if field.required and not found:
            return f"'{where}{field.path}' is missing"
        for path, value in found:
            if not isinstance(value, field.types) or isinstance(value, bool):
                wanted = " or ".join(_type_name(t) for t in field.types)
                return f"'{path}' should be {wanted}, not {_json_name(value)}"
    return None


def _plain(node: Any, parts: tuple[str, ...], where: str) -> list[tuple[str, Any]]:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    return [(where + ".".join(parts), node)]


def _found(node: Any, parts: tuple[str, ...], path: str) -> Iterator[tuple[str, Any]]:
    """Every value at ``parts`` below ``node`` with its full path (none when absent)."""
    if not parts:
        yield path.rstrip("."), node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, child in items:
            yield from _found(child, rest, f"{path}{key}.")
    elif isinstance(node, dict) and head in node:
        yield from _found(node[head], rest, f"{path}{head}.")
    elif (
        isinstance(node, list)
        and head.lstrip("-").isdigit()
        and -len(node) <= int(head) < len(node)
    ):
        yield from _found(node[int(head)], rest, f"{path}{head}.")


def _json_name(value: object) -> str:
    return _type_name(type(value))


def _type_name(kind: type) -> str:
    names = {dict: "an object", list: "an array", str: "a string", NULL: "null", bool: "a boolean"}
    return names.get(kind, "a number")


def installing_team(body: dict[str, Any]) -> str:
    """The workspace that installed mlgov, which owns the data a request is about.

    In a Slack Connect channel ``team`` is the *sender's* workspace on forms
    (``view.app_installed_team_id`` is ours), and on events the installation is
    ``authorizations[0]``. The order is bolt-python's ``extract_team_id``.
    """
    view = body.get("view")
    if isinstance(view, dict) and view.get("app_installed_team_id"):
        return str(view["app_installed_team_id"])
    team = body.get("team")
    if isinstance(team, str):
        return team
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    authorizations = body.get("authorizations")
    if isinstance(authorizations, list) and authorizations:
        first = authorizations[0]
        if isinstance(first, dict) and first.get("team_id"):
            return str(first["team_id"])
    for found in (
        body.get("team_id"),
        (body.get("event") or {}).get("team"),
        (body.get("user") or {}).get("team_id") if isinstance(body.get("user"), dict) else None,
        view.get("team_id") if isinstance(view, dict) else None,
    ):
        if found:
            return str(found)
    return ""

"""Slack's Block Kit limits, checked by the fake Web API as Slack checks them.

Slack refuses a message or a view that breaks a limit (``invalid_blocks`` for messages,
``invalid_arguments`` for views) instead of cutting it; so must the fake, or a test could
pass with a message Slack would never show. Limits from docs.slack.dev/reference/block-kit.
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
HEADER_TEXT = 150
ID_LENGTH = 255
OPTIONS = 100  # a static select's options, or the options of one of its groups
OPTION_GROUPS = 100
MESSAGE_JSON = 13_000  # roughly where chat.postMessage answers msg_blocks_too_long

MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})


def refusal(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer refusing ``params`` for ``method``, or None when they are valid."""
    if method in MESSAGE_METHODS or method == "response_url":
        blocks = params.get("blocks")
        if not isinstance(blocks, list):
            return None
        found = message_problems(blocks)
        error = "invalid_blocks"
    elif method in VIEW_METHODS and isinstance(params.get("view"), dict):
        found = view_problems(params["view"])
        error = "invalid_arguments"
    else:
        return None
    if not found:
        return None
    return {"ok": False, "error": error, "response_metadata": {"messages": found}}


def message_problems(blocks: list[dict[str, Any]]) -> list[str]:
    found = _blocks_problems(blocks, MESSAGE_BLOCKS)
    if len(json.dumps(blocks, ensure_ascii=False)) > MESSAGE_JSON:
        found.append("[ERROR] msg_blocks_too_long")
    return found


def view_problems(view: dict[str, Any]) -> list[str]:
    return _blocks_problems(view.get("blocks") or [], VIEW_BLOCKS)


def _blocks_problems(blocks: list[dict[str, Any]], most: int) -> list[str]:
    found = []
    if len(blocks) > most:
        found.append(f"[ERROR] must provide at most {most} items [/blocks]")
    ids = [block["block_id"] for block in blocks if "block_id" in block]
    if len(ids) != len(set(ids)):
        found.append("[ERROR] a block_id is repeated [/blocks]")
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if len(block.get("block_id", "")) > ID_LENGTH:
            found.append(f"[ERROR] block_id longer than {ID_LENGTH} [{where}]")
        text = (block.get("text") or {}).get("text", "")
        limit = HEADER_TEXT if block.get("type") == "header" else SECTION_TEXT
        if len(text) > limit:
            found.append(f"[ERROR] text longer than {limit} [{where}/text]")
        elements = [block.get("element"), block.get("accessory"), *block.get("elements", [])]
        for element in elements:
            if isinstance(element, dict):
                found += _select_problems(element, where)
    return found


def _select_problems(element: dict[str, Any], where: str) -> list[str]:
    if element.get("type") not in ("static_select", "multi_static_select"):
        return []
    options, groups = element.get("options"), element.get("option_groups")
    if (options is None) == (groups is None):
        return [f"[ERROR] give exactly one of options and option_groups [{where}]"]
    found = []
    if options is not None and len(options) > OPTIONS:
        found.append(f"[ERROR] must provide at most {OPTIONS} items [{where}/options]")
    if groups is not None:
        if len(groups) > OPTION_GROUPS:
            found.append(f"[ERROR] must provide at most {OPTION_GROUPS} items [{where}]")
        for group in groups:
            if len(group.get("options", [])) > OPTIONS:
                found.append(f"[ERROR] must provide at most {OPTIONS} items [{where}/group]")
    every = options or [o for group in groups or [] for o in group.get("options", [])]
    initial = element.get("initial_option")
    if initial is not None and initial.get("value") not in {o.get("value") for o in every}:
        found.append(f"[ERROR] initial_option is not one of the options [{where}]")
    return found

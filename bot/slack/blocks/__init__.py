"""Pure renderers: domain values -> Block Kit (built with slack_sdk.models, so limits are
checked) plus fallback text. Every user-facing string of the Slack surface lives here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.model import PIPELINE_ACTORS

MAX_BLOCKS = 50
_SLACK_USER = re.compile(r"^[UWB][A-Z0-9]+$")
MAX_BLOCK_CHARS = 11_000  # JSON of all blocks; Slack's own limit is near 13k of content
SECTION_LIMIT = 3000


@dataclass(frozen=True)
class Reply:
    """What a command answers: fallback ``text`` plus ``blocks``; or a form to open."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: bool = True
    modal: dict[str, Any] | None = None
    failed: bool = False


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    """Shorten ``text`` to ``limit`` characters, saying that it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape user text for mrkdwn, so it cannot forge mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def who(user_id: str) -> str:
    """A mention of ``user_id``; a pipeline (``cli``, ``api``) or mlgov's own jobs are
    named, not mentioned: they are nobody in Slack, and a mention of them would read as
    some random member (the shell reads ``<@cli>`` as ``@li``)."""
    if user_id in PIPELINE_ACTORS:
        return f"the `{user_id}` pipeline"
    return f"<@{user_id}>" if _SLACK_USER.match(user_id) else f"`{user_id}`"


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text)))


def sections(lines: list[str], limit: int = 2900) -> list[SectionBlock]:
    """Lines packed into as few sections as fit, never splitting a line."""
    blocks: list[SectionBlock] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, limit)
        if chunk and size + len(line) + 1 > limit:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, 150))


def button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=clip(text, 75), action_id=action_id, value=value, style=style)


def actions(*buttons: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(buttons), block_id=block_id)


def to_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    """Serialise (and so validate) blocks within Slack's limits: 50 blocks, and about 13k
    characters of block content (above that chat.postMessage answers msg_blocks_too_long)."""
    more = context("…more not shown; narrow the query.").to_dict()
    more_chars = len(json.dumps(more, ensure_ascii=False))
    kept: list[dict[str, Any]] = []
    used = 0
    for index, block in enumerate(blocks):
        serialised = block.to_dict()
        size = len(json.dumps(serialised, ensure_ascii=False))
        last = index == len(blocks) - 1
        # Keep a block only if the "more" note would still fit after it, unless it is last.
        room_blocks = MAX_BLOCKS if last else MAX_BLOCKS - 1
        room_chars = MAX_BLOCK_CHARS if last else MAX_BLOCK_CHARS - more_chars
        if len(kept) + 1 > room_blocks or used + size > room_chars:
            return kept + [more]
        kept.append(serialised)
        used += size
    return kept


def reply(text: str, blocks: list[Block] | None = None, *, ephemeral: bool = True) -> Reply:
    return Reply(
        text=clip(text, 4000), blocks=to_dicts(blocks or [section(text)]), ephemeral=ephemeral
    )


def error(message: str) -> Reply:
    """An ephemeral error: says exactly what was wrong (and the usage, when it was usage)."""
    text = f":warning: {message}"
    return Reply(text=clip(text, 4000), blocks=to_dicts([section(text)]), failed=True)

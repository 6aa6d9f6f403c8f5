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
# The tail of a cut entity such as "&am" or "&#12" (a whole one ends with ";").
_OPEN_ENTITY = re.compile(r"&[#A-Za-z0-9]*$")


@dataclass(frozen=True)
class Reply:
    """What a command answers: fallback ``text`` plus ``blocks``; or a form to open."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: bool = True
    modal: dict[str, Any] | None = None
    failed: bool = False


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    """Shorten mrkdwn ``text`` to at most ``limit`` characters, saying that it was cut.

    The cut never splits Slack's markup: it moves before an entity it would halve
    (``&am``) and before a ``<@U…|…>`` mention, channel or link it would leave open,
    which Slack would show as broken text (or, half-closed, as a different mention)."""
    if len(text) <= limit:
        return text
    kept = text[: max(limit - 1, 0)]
    opened = kept.rfind("<")
    if opened > kept.rfind(">"):
        kept = kept[:opened]
    return _OPEN_ENTITY.sub("", kept) + "…"


def escape(text: str) -> str:
    """Escape user text for mrkdwn, so it cannot forge mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped(text: str, limit: int) -> str:
    """User ``text`` escaped for mrkdwn in at most ``limit`` characters: the raw text is
    cut first and escaped after, so a cut never splits ``&amp;`` (escaping first and
    cutting after is what left a dangling ``&am``)."""
    whole = escape(text)
    if len(whole) <= limit:
        return whole
    room, end = max(limit - 1, 0), 0
    for char in text:
        cost = len(escape(char))
        if cost > room:
            break
        room -= cost
        end += 1
    return escape(text[:end]) + "…"


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


# What a cut message says in place of what it left out: a list can be narrowed; a card,
# a thread root or a review request cannot (there is no query), so they say what happened.
MORE_THAN_FITS = "…more not shown; narrow the query."
CUT_TO_FIT = "…cut to fit in one Slack message."


def to_dicts(blocks: list[Block], *, more: str = MORE_THAN_FITS) -> list[dict[str, Any]]:
    """Serialise (and so validate) blocks within Slack's limits: 50 blocks, and about 13k
    characters of block content (above that chat.postMessage answers msg_blocks_too_long).

    What does not fit is cut from the text, never from the buttons: every actions block
    is kept in its place, the first text block that does not fit is shortened to the room
    left, and ``more`` says that the message was cut."""
    serialised = [block.to_dict() for block in blocks]
    sizes = [_json_size(block) for block in serialised]
    if len(serialised) <= MAX_BLOCKS and sum(sizes) <= MAX_BLOCK_CHARS:
        return serialised
    note = context(more).to_dict()
    buttons = [i for i, block in enumerate(serialised) if block["type"] == "actions"]
    room_blocks = MAX_BLOCKS - 1 - len(buttons)
    room_chars = MAX_BLOCK_CHARS - _json_size(note) - sum(sizes[i] for i in buttons)
    kept: list[dict[str, Any]] = []
    cut = False
    for block, size in zip(serialised, sizes, strict=True):
        if block["type"] == "actions":
            kept.append(block)
        elif cut:
            continue
        elif room_blocks > 0 and size <= room_chars:
            kept.append(block)
            room_blocks, room_chars = room_blocks - 1, room_chars - size
        else:
            shortened = _shortened(block, room_chars) if room_blocks > 0 else None
            kept += [shortened, note] if shortened else [note]
            cut = True
    return kept


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def _shortened(block: dict[str, Any], room: int) -> dict[str, Any] | None:
    """A section whose text is clipped to fit in ``room`` characters of JSON (at a line's
    end when it has several lines: sections() never splits one), or None when it is not
    a section or too little of it would be left to be worth showing."""
    text = block.get("text") if block["type"] == "section" else None
    if not isinstance(text, dict) or "fields" in block or "accessory" in block:
        return None
    limit = room - (_json_size(block) - _json_size(text["text"]))
    while limit >= 200:  # JSON escapes (newlines, quotes) take more than one character
        cut = clip(text["text"], limit)
        if cut.rfind("\n") > 0:
            cut = cut[: cut.rfind("\n")]
        shorter = {**block, "text": {**text, "text": cut}}
        over = _json_size(shorter) - room
        if over <= 0:
            return shorter
        limit -= over
    return None


def fresh_block_ids(blocks: list[dict[str, Any]], stamp: str) -> list[dict[str, Any]]:
    """``blocks`` for an update of a message, each block_id made new with ``stamp``.

    Slack asks for a new block_id on each update of a message, or clients may keep the
    old blocks' state. Only block_ids change: listeners match buttons on their action_id
    (and forms, whose fields are read by block_id, are views, never updated this way)."""
    return [
        {**block, "block_id": f"{block['block_id']}.{stamp}"} if "block_id" in block else block
        for block in blocks
    ]


def reply(
    text: str,
    blocks: list[Block] | None = None,
    *,
    ephemeral: bool = True,
    more: str = MORE_THAN_FITS,
) -> Reply:
    return Reply(
        text=clip(text, 4000),
        blocks=to_dicts(blocks or [section(text)], more=more),
        ephemeral=ephemeral,
    )


def error(message: str) -> Reply:
    """An ephemeral error: says exactly what was wrong (and the usage, when it was usage)."""
    text = f":warning: {message}"
    return Reply(text=clip(text, 4000), blocks=to_dicts([section(text)]), failed=True)

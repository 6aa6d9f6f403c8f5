"""Block Kit -> plain text for the terminal: pure, so what the shell shows is what Slack shows.

Buttons are numbered across the whole reply (``[1] Start  [2] Abandon…``) so that a person
can press one by typing its number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.shell.ids import name_from_id

BOLD = "\033[1m"
DIM = "\033[2m"
RESET = "\033[0m"
RULE_WIDTH = 40
# Slack shortcodes our own messages use, shown as the emoji Slack would show.
SHORTCODES = {
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":tada:": "🎉",
    ":wave:": "👋",
    ":eyes:": "👀",
    ":bell:": "🔔",
    ":calendar:": "📅",
    ":rocket:": "🚀",
}
# Code spans and Slack's <…> tokens are taken out first, so formatting marks inside a URL
# or a code span are never taken for bold or italics.
_SPANS = re.compile(r"(```[\s\S]*?```|`[^`\n]+`|<[^<>\n]+>)")
# Spans stand in the text as numbered holes (private-use characters) while formatting is
# read, so that bold around a mention still pairs up.
_HOLE, _HOLE_END = "\ue000", "\ue001"
_HOLES = re.compile(f"{_HOLE}([0-9]+){_HOLE_END}")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w])_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
# Mentions written as text (user input is escaped by the core, so the shell's own
# `<@U…|name>` rewrite of a typed @name comes back as text): shown as the @name typed.
_TEXT_MENTION = re.compile(r"<([@#])([UWCGD][A-Z0-9]+)(?:\|([^<>]*))?>")


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


@dataclass(frozen=True)
class Names:
    """Display names for user and channel ids; ids the shell made up read back as names.

    A channel nobody named reads as the name Slack wrote beside its id (``<#C1|ml-x>``),
    else as the name the shell made its id from: a reply never shows a raw channel id.
    """

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)

    def user(self, user_id: str) -> str:
        return self.users.get(user_id) or name_from_id(user_id)

    def channel(self, channel_id: str, label: str = "") -> str:
        return self.channels.get(channel_id) or _unescape(label) or name_from_id(channel_id)


@dataclass(frozen=True)
class Button:
    """A button the person can press by its number."""

    number: int
    label: str
    action_id: str
    value: str


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[Button, ...] = ()


class Renderer:
    """Turns Block Kit and mrkdwn into text; ``color`` adds ANSI bold (for a terminal)."""

    def __init__(self, names: Names, *, color: bool = False) -> None:
        self.names = names
        self.color = color

    # --- mrkdwn ---------------------------------------------------------------------

    def mrkdwn(self, text: str) -> str:
        """Slack mrkdwn -> readable text: mentions by name, links as ``label (url)``."""
        kept: list[str] = []

        def keep(match: re.Match[str]) -> str:
            kept.append(self._span(match.group(0)))
            return f"{_HOLE}{len(kept) - 1}{_HOLE_END}"

        def put_back(match: re.Match[str]) -> str:
            index = int(match.group(1))
            return kept[index] if index < len(kept) else ""

        return _HOLES.sub(put_back, self._plain(_SPANS.sub(keep, text)))

    def _span(self, span: str) -> str:
        if span.startswith("```"):
            body = _unescape(span[3:-3].strip("\n"))
            return "\n".join("    " + line for line in body.splitlines())
        if span.startswith("`"):
            return _unescape(span[1:-1])
        return self._token(span[1:-1])

    def _plain(self, text: str) -> str:
        bold: Callable[[re.Match[str]], str] = (
            (lambda m: f"{BOLD}{m.group(1)}{RESET}") if self.color else (lambda m: m.group(1))
        )
        text = _BOLD.sub(bold, text)
        text = _ITALIC.sub(lambda m: m.group(1), text)
        text = _STRIKE.sub(lambda m: m.group(1), text)
        for code, emoji in SHORTCODES.items():
            text = text.replace(code, emoji)
        text = _unescape(text)
        return _TEXT_MENTION.sub(self._text_mention, text)

    def plain(self, text: str) -> str:
        """A plain_text string, with mentions that were typed into it shown by name."""
        return _TEXT_MENTION.sub(self._text_mention, text)

    def _text_mention(self, match: re.Match[str]) -> str:
        sigil, entity = match.group(1), match.group(2)
        if sigil == "@":
            return "@" + self.names.user(entity)
        return "#" + self.names.channel(entity, match.group(3) or "")

    def _token(self, inner: str) -> str:
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + self.names.user(target[1:])
        if target.startswith("#"):
            return "#" + self.names.channel(target[1:], label)
        if target.startswith("!"):
            # <!here>, <!channel>, <!date^…|fallback>, <!subteam^ID|@team>
            if label:
                return _unescape(label)
            return "@" + target[1:].split("^")[0]
        if re.match(r"^(https?|mailto):", target):
            label = _unescape(label)
            return f"{label} ({target})" if label and label != target else target
        # Not a Slack token (for instance "<project>" in a usage line): show it as written.
        return f"<{_unescape(inner)}>"

    # --- blocks ---------------------------------------------------------------------

    def blocks(
        self, blocks: Sequence[Mapping[str, Any]], fallback: str = "", first_button: int = 1
    ) -> Rendered:
        """Render a message; buttons are numbered from ``first_button`` in reading order."""
        if not blocks:
            return Rendered(self.mrkdwn(fallback))
        lines: list[str] = []
        buttons: list[Button] = []

        def add_button(element: Mapping[str, Any]) -> str:
            number = first_button + len(buttons)
            label = self.plain(_text_of(element.get("text")))
            buttons.append(
                Button(number, label, str(element.get("action_id", "")), element.get("value", ""))
            )
            return f"[{number}] {label}"

        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                title = self.plain(_text_of(block.get("text")))
                underline = "─" * min(len(title), RULE_WIDTH * 2)
                lines += [f"{BOLD}{title}{RESET}" if self.color else title, underline]
            elif kind == "section":
                lines += self._section(block, add_button)
            elif kind == "context":
                pieces = [self._text_object(e) for e in block.get("elements", [])]
                context = "  ".join(p for p in pieces if p)
                lines.append(f"{DIM}{context}{RESET}" if self.color else context)
            elif kind == "actions":
                shown = [
                    add_button(e) if e.get("type") == "button" else f"({e.get('type', '?')})"
                    for e in block.get("elements", [])
                ]
                lines.append("  ".join(shown))
            elif kind == "divider":
                lines.append("─" * RULE_WIDTH)
            elif kind == "image":
                lines.append(f"[image: {block.get('alt_text', '')}]")
        return Rendered("\n".join(lines), tuple(buttons))

    def _section(
        self, block: Mapping[str, Any], add_button: Callable[[Mapping[str, Any]], str]
    ) -> list[str]:
        lines = []
        if block.get("text"):
            lines.append(self._text_object(block["text"]))
        for item in block.get("fields", []):
            lines.append(self._text_object(item))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            lines.append(add_button(accessory))
        return lines

    def _text_object(self, item: Mapping[str, Any]) -> str:
        if item.get("type") == "mrkdwn":
            return self.mrkdwn(str(item.get("text", "")))
        if item.get("type") == "image":
            return str(item.get("alt_text", ""))
        return self.plain(_text_of(item))


def _text_of(item: Any) -> str:
    """The text of a plain_text object (or of a bare string)."""
    if isinstance(item, Mapping):
        return str(item.get("text", ""))
    return str(item or "")

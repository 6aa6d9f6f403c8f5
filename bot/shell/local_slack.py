"""A Slack Web API that prints to the terminal: what the outbox would post, shown in place.

It implements ``services.delivery.SlackApi``, so the shell delivers messages through the
same outbox dispatcher as the server, and hands out ``ts`` values so threads work.
"""

from __future__ import annotations

import base64
import itertools
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.shell.render import Names, Renderer
from bot.slack.notices import UPLOAD

KEY = re.compile(r"\bEXP-[0-9]+\b")


class LocalSlack:
    """Shows channel posts as ``  [#churn › EXP-3 thread] text`` and direct messages as
    ``  [DM → @alice] text``; ``quiet`` shows nothing."""

    def __init__(
        self, write: Callable[[str], None], names: Callable[[], Names], *, color: bool = False
    ) -> None:
        self.write = write
        self.names = names
        self.color = color
        self.quiet = False
        self._serial = itertools.count(1)
        # ts -> the experiment key of the thread it starts, to label replies.
        self._threads: dict[str, str] = {}

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.join":
            return {"ok": True}
        if method == "conversations.open":
            users = str(payload.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}
        if method == "chat.update":
            # The thread root restates the experiment's card; the change itself is already
            # shown as the thread reply posted with it, so the update is not printed again.
            return {"ok": True, "ts": payload.get("ts"), "channel": payload.get("channel")}
        ts = f"{next(self._serial)}.000000"
        if method == "views.publish":
            # A Home tab is not a message: say whose changed; :home shows it.
            user = self.names().user(str(payload.get("user_id", "")))
            self._say(f"[Home tab of @{user}]", "updated (:home shows yours)")
            return {"ok": True, "view": {"id": f"V{ts}"}}
        if method == UPLOAD:
            return self._file(payload, ts)
        if method in ("chat.postMessage", "chat.postEphemeral"):
            self._show(method, payload, ts)
        else:
            self._say(f"[slack {method}]", str(payload.get("text", "")))
        return {"ok": True, "ts": ts, "message_ts": ts, "channel": payload.get("channel")}

    def _show(self, method: str, payload: dict[str, Any], ts: str) -> None:
        names = self.names()
        renderer = Renderer(names, color=self.color)
        text = str(payload.get("text", ""))
        channel = str(payload.get("channel", ""))
        where = self._where(channel, names)
        thread = payload.get("thread_ts")
        blocks = payload.get("blocks")
        if thread:
            key = self._threads.get(str(thread)) or _key_in(text)
            where += f" › {key} thread" if key else " › thread"
        elif blocks and (key := _key_in(text)):
            # A message with a card that names an experiment starts that experiment's thread.
            self._threads[ts] = key
            where += f" › new thread {key}"
            blocks = None  # the card itself is what /exp show shows; its summary will do
        if method == "chat.postEphemeral":
            where += ", only you"
        # A message with blocks and no card (a review announcement) is shown in full.
        shown = renderer.blocks(blocks, text).text if blocks else renderer.mrkdwn(text)
        self._say(f"[{where}]", shown)

    def _file(self, payload: dict[str, Any], ts: str) -> dict[str, Any]:
        """A chart: saved where the terminal's user can open it."""
        folder = Path(tempfile.gettempdir()) / "mlgov-charts"
        folder.mkdir(exist_ok=True)
        path = folder / Path(str(payload.get("filename", "chart.png"))).name
        path.write_bytes(base64.b64decode(str(payload.get("content_b64", ""))))
        where = self._where(str(payload.get("channel", "")), self.names())
        thread = self._threads.get(str(payload.get("thread_ts", "")))
        where += f" › {thread} thread" if thread else ""
        self._say(f"[{where}]", f"📈 {payload.get('title', 'chart')}: {path}")
        return {"ok": True, "file": path.name}

    def _where(self, channel: str, names: Names) -> str:
        # A post to a user id (or to the DM channel opened with one) is a direct message.
        if channel[:1] in ("U", "W"):
            return f"DM → @{names.user(channel)}"
        if channel[:1] == "D":
            return f"DM → @{names.user(channel[1:])}"
        return "#" + names.channel(channel)

    def _say(self, label: str, text: str) -> None:
        if self.quiet:
            return
        lines = text.splitlines() or [""]
        pad = " " * (len(label) + 3)
        self.write("  " + label + " " + lines[0] + "".join("\n" + pad + x for x in lines[1:]))


def _key_in(text: str) -> str | None:
    match = KEY.search(text)
    return match.group(0) if match else None

"""A Slack Web API that prints to the terminal: what the outbox would post, shown in place.

It implements ``services.delivery.SlackApi``, so the shell delivers messages through the
same outbox dispatcher as the server, and hands out ``ts`` values so threads work. Buttons
on what it prints go on the shell's :class:`Board`, to be pressed by number; files (charts)
are written to a folder and their path printed where Slack would show the image.
"""

from __future__ import annotations

import base64
import itertools
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.shell.buttons import Board, Message
from bot.shell.render import Names, Rendered, Renderer
from bot.slack.notices import UPLOAD

KEY = re.compile(r"\bEXP-[0-9]+\b")
DIRECT = ("U", "W", "D")  # a post to a user (or their DM channel) is a direct message
CHARTS = Path(tempfile.gettempdir()) / "mlgov-charts"


class LocalSlack:
    """Shows channel posts as ``  [#churn › EXP-3 thread] text`` and direct messages as
    ``  [DM → @alice] text``; ``quiet`` shows nothing."""

    def __init__(
        self,
        write: Callable[[str], None],
        names: Callable[[], Names],
        *,
        color: bool = False,
        board: Board | None = None,
        folder: Path | None = None,
    ) -> None:
        self.write = write
        self.names = names
        self.color = color
        self.board = board if board is not None else Board()
        self.folder = folder if folder is not None else CHARTS
        self.quiet = False
        self._last_ts = 0  # microseconds
        # ts -> the experiment key of the thread it starts ("" for another thread), to
        # label replies.
        self._threads: dict[str, str] = {}
        # ts -> where a message (not a thread root) was printed, to show its later edits.
        self._posted: dict[str, str] = {}

    def ts(self) -> str:
        """A new message timestamp, as Slack gives one: the time, unique and increasing, so
        this session's never meet those an earlier session stored (threads, refs)."""
        self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        seconds, micro = divmod(self._last_ts, 1_000_000)
        return f"{seconds}.{micro:06d}"

    def thread(self, ts: str, key: str = "") -> None:
        """Know ``ts`` as the root of ``key``'s thread ("": a thread of no experiment)."""
        self._threads[ts] = key

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method in ("conversations.join", "auth.test"):
            return {"ok": True}  # no team: a workspace paused in the database stays paused
        if method == "conversations.open":
            users = str(payload.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0]}}
        if method == "chat.update":
            # The thread root restates the experiment's card; the change itself is already
            # shown as the thread reply posted with it, so the update is not printed again.
            # An edit of another message ("computing…" becoming the summary) is news.
            edited = str(payload.get("ts", ""))
            where = self._posted.get(edited)
            if where is not None:
                self._print(where, payload, edited, "(edited) ")
            return {"ok": True, "ts": payload.get("ts"), "channel": payload.get("channel")}
        ts = self.ts()
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
        text = str(payload.get("text", ""))
        channel = str(payload.get("channel", ""))
        where = self._where(channel, names)
        thread = payload.get("thread_ts")
        if thread:
            where += self._thread(str(thread), text)
        elif payload.get("blocks") and channel[:1] not in DIRECT and (key := _key_in(text)):
            # A channel post with a card that names an experiment starts that experiment's
            # thread (a DM's blocks are a reminder with its buttons, shown as they are).
            self._threads[ts] = key
            self._say(f"[{where} › new thread {key}]", Renderer(names).mrkdwn(text))
            return  # the card itself is what /exp show shows; its summary will do
        if method == "chat.postEphemeral":
            where += ", only you"
            ts = ""  # gone once read: its buttons are not listed again
        else:
            self._posted[ts] = where
        self._print(where, payload, ts)

    def _print(self, where: str, payload: dict[str, Any], ts: str, edited: str = "") -> None:
        """A message in full, its buttons numbered on the board (a review request's
        Approve, an announcement's …)."""
        names = self.names()
        renderer = Renderer(names, color=self.color)
        text = str(payload.get("text", ""))
        blocks = payload.get("blocks")
        if blocks:
            rendered = renderer.blocks(blocks, text, first_button=self.board.next_number())
        else:
            rendered = Rendered(renderer.mrkdwn(text))
        # Buttons nobody saw cannot be pressed; an edit, seen or not, replaces the post's.
        buttons = () if self.quiet else rendered.buttons
        if buttons or ts:
            channel = str(payload.get("channel", ""))
            only = payload.get("user") or _dm_user(channel)
            title = rendered.text.splitlines()[0] if rendered.text else ""
            self.board.add(buttons, Message(where, title, only, channel, ts))
        self._say(f"[{where}]", edited + rendered.text)

    def _thread(self, thread_ts: str, text: str) -> str:
        """`` › EXP-3 thread``: the experiment whose thread this is, when known."""
        # A thread started before this session: the experiment its reply names, if any.
        key = self._threads[thread_ts] if thread_ts in self._threads else _key_in(text)
        return f" › {key} thread" if key else " › thread"

    def _file(self, payload: dict[str, Any], ts: str) -> dict[str, Any]:
        """A chart: saved where the terminal's user can open it; its path shows in place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = Path(str(payload.get("filename") or "chart.png")).name
        path = self.folder / name
        # A later chart of the same experiment must not replace the one an earlier message
        # points at.
        for copy in itertools.count(2):
            if not path.exists():
                break
            path = self.folder / f"{Path(name).stem}-{copy}{Path(name).suffix}"
        path.write_bytes(base64.b64decode(str(payload.get("content_b64", ""))))
        title = str(payload.get("title") or "chart")
        where = self._where(str(payload.get("channel", "")), self.names())
        thread = payload.get("thread_ts")
        if thread:
            where += self._thread(str(thread), title)
        self._say(f"[{where}]", f"📈 {title}: {path}")
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


def _dm_user(channel: str) -> str | None:
    """The one person who sees a direct message, for a DM (or user id) channel."""
    if channel[:1] in ("U", "W"):
        return channel
    if channel[:1] == "D":
        return channel[1:]
    return None


def _key_in(text: str) -> str | None:
    match = KEY.search(text)
    return match.group(0) if match else None

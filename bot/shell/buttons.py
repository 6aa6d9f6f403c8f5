"""The buttons a person can press by number: on replies, channel posts, DMs and the Home.

Every message the shell prints with buttons numbers them. The count starts again at [1]
with the first buttons shown after a line is typed, and runs on through everything that
line shows (its reply, then the channel posts and DMs it caused, then what background jobs
post) — so the numbers on screen are never ambiguous. Buttons stay pressable until newer
ones are shown, or until their post is edited: an edit (``chat.update``) replaces the post's
buttons with the edited version's, as in Slack, where a taken offer has no Take it. A
button on a message only one person sees (an ephemeral reply, a DM, a Home) can be pressed
only as that person, as in Slack.

Channel posts and DMs stay in Slack after the screen has moved on: ``:buttons`` numbers
afresh, from [1], every button the current person could press now — those on screen,
then the latest version of each recent post.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.shell.render import Button


@dataclass(frozen=True)
class Message:
    """Where buttons were shown: ``where`` as printed (``#churn › EXP-1 thread``), a short
    ``title``, and ``only`` — the one user who sees it (None: everyone in the channel)."""

    where: str
    title: str
    only: str | None
    channel: str = ""
    ts: str = ""  # a post's timestamp: an edit of it replaces its buttons ("" for a reply)


@dataclass(frozen=True)
class Pressable:
    button: Button
    message: Message
    gone: bool = False  # its post was edited since: still numbered, no longer pressable

    def describe(self) -> str:
        return f"[{self.button.number}] {self.button.label}"


class Board:
    """The buttons now on screen, by number; and the recent posts' buttons, to list again."""

    KEEP = 20  # posts remembered for :buttons

    def __init__(self) -> None:
        self._pressable: list[Pressable] = []
        self._fresh = False
        # A post's ts -> the buttons of its latest version, oldest post first.
        self._posts: dict[str, tuple[Message, tuple[Button, ...]]] = {}

    def new_line(self) -> None:
        """A line was typed: the next buttons shown are numbered from 1 again."""
        self._fresh = True

    def next_number(self) -> int:
        """The number the next button shown gets."""
        return 1 if self._fresh else len(self._pressable) + 1

    def add(self, buttons: Sequence[Button], message: Message) -> None:
        """Buttons just printed on ``message``, numbered from :meth:`next_number`; a post
        printed again (edited) has only these, its earlier version's are gone."""
        if message.ts:
            self._pressable = [
                replace(p, gone=True) if p.message.ts == message.ts else p for p in self._pressable
            ]
            self._posts.pop(message.ts, None)
            if buttons:
                self._posts[message.ts] = (message, tuple(buttons))
            while len(self._posts) > self.KEEP:
                del self._posts[next(iter(self._posts))]
        if not buttons:
            return
        if self._fresh:
            self._pressable = []
            self._fresh = False
        self._pressable += [Pressable(b, message) for b in buttons]

    def relist(self, user_id: str) -> list[Pressable]:
        """Number from 1 every button ``user_id`` may press now (on screen, then the recent
        posts'); these become the numbers on screen."""
        on_screen = self.visible_to(user_id)
        shown = {p.message.ts for p in on_screen if p.message.ts}
        older = [
            Pressable(button, message)
            for ts, (message, buttons) in self._posts.items()
            if ts not in shown and message.only in (None, user_id)
            for button in buttons
        ]
        listed = [
            Pressable(replace(p.button, number=n), p.message)
            for n, p in enumerate([*on_screen, *older], 1)
        ]
        if listed:  # nothing listed, nothing new shown: the numbers on screen stand
            self._pressable, self._fresh = listed, False
        return listed

    def get(self, number: int) -> Pressable | None:
        if 1 <= number <= len(self._pressable):
            return self._pressable[number - 1]
        return None

    def visible_to(self, user_id: str) -> list[Pressable]:
        return [p for p in self._pressable if not p.gone and p.message.only in (None, user_id)]

    def __bool__(self) -> bool:
        return any(not p.gone for p in self._pressable)

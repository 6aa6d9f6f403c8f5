"""The shell's read–eval–print loop: command lines, mentions, button presses and forms, as
one user; the shell's own commands are in :mod:`bot.shell.meta`."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TextIO

from bot.domain.errors import MlgovError
from bot.runtime import Runtime
from bot.services.delivery import OutboxDispatcher
from bot.shell import mentions
from bot.shell.buttons import Board, Message, Pressable
from bot.shell.directory import TEAM_ID, Directory, Person, to_slack_text
from bot.shell.forms import FormCancelled, FormFiller
from bot.shell.jobs import Background
from bot.shell.local_slack import LocalSlack
from bot.shell.meta import Quit, find_meta, is_number, press
from bot.shell.render import Rendered, Renderer
from bot.slack.blocks import Reply
from bot.slack.dispatch import Origin
from bot.slack.parsing import PARSERS
from storage.outbox import OutboxStore

log = logging.getLogger(__name__)


class Session:
    """One person at the terminal, acting as ``user`` in the workspace ``TLOCAL``."""

    def __init__(self, runtime: Runtime, stdin: TextIO, stdout: TextIO, user: Person) -> None:
        self.runtime = runtime
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = _isatty(stdin)
        self.color = _isatty(stdout)
        # At a real terminal, input() gives line editing and history (with readline).
        self.line_editing = stdin is sys.stdin and stdout is sys.stdout and self.interactive
        if self.line_editing:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401
        self.directory = Directory(runtime.db)
        self.user = user
        self.board = Board()
        self.slack = LocalSlack(
            self.write, self.directory.names, color=self.color, board=self.board
        )
        # The scheduled jobs, on their schedules (:jobs on|off).
        self.background = Background(self)
        # One line is handled, or one delivery printed, at a time: the background jobs'
        # thread takes this lock to show what a run posted.
        self.lock = threading.RLock()
        self._prompt: str | None = None  # shown and waiting for a line
        self._prompt_broken = False  # background output was printed after it
        self._jobs_stopping = False
        # Delivered here, synchronously after each command, before each prompt and after
        # each background job's run, so a channel post prints right under what caused it;
        # no outbox worker runs.
        owner = f"shell:{os.getpid()}:{id(self)}"
        self._delivering_as_of: datetime | None = None
        self.outbox = OutboxDispatcher(
            OutboxStore(runtime.db, owner, team_id=TEAM_ID), self.slack, self._delivery_time
        )

    # --- input and output -----------------------------------------------------------

    def write(self, text: str = "") -> None:
        if self._prompt is not None and not self._prompt_broken:
            # Output while the prompt waits (a background job's post) starts on its own line.
            self._prompt_broken = True
            self._raw("\r\033[K" if self.color else "\n")  # a terminal: clear the prompt
        self._raw(text + "\n")

    def _raw(self, line: str) -> None:
        try:
            self.stdout.write(line)
        except UnicodeEncodeError:  # a terminal that cannot show emoji still gets the words
            encoding = getattr(self.stdout, "encoding", None) or "ascii"
            self.stdout.write(line.encode(encoding, "replace").decode(encoding))
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        """Read one line after ``prompt``; None at end of input."""
        with self.lock:
            self._prompt, self._prompt_broken = prompt, False
            if not self.line_editing:
                self.stdout.write(prompt)
                self.stdout.flush()
        try:
            line = self._read(prompt)
        finally:
            with self.lock:
                self._prompt = None
        with self.lock:
            if line is None:
                self.stdout.write("\n")
            elif not self.interactive:
                self.stdout.write(line + "\n")  # echo: a piped session reads as a transcript
        return line

    def _read(self, prompt: str) -> str | None:
        if self.line_editing:
            try:
                return input(prompt)
            except EOFError:
                return None
        line = self.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def arrived(self) -> None:
        """A background job ran: show what it posted now, even while the prompt waits."""
        while not self._jobs_stopping:
            if self.lock.acquire(timeout=0.25):
                break
        else:  # the jobs are stopping: the session delivers before its next prompt
            return
        try:
            self.guarded("delivering", self.deliver)
            if self._prompt is not None and self._prompt_broken:
                self._prompt_broken = False
                self.stdout.write(self._prompt + _typed_so_far(self.line_editing))
                self.stdout.flush()
        finally:
            self.lock.release()

    @contextlib.contextmanager
    def pausing(self) -> Iterator[None]:
        """While the background jobs stop: a run that ends meanwhile does not wait to print."""
        self._jobs_stopping = True
        try:
            yield
        finally:
            self._jobs_stopping = False

    def renderer(self) -> Renderer:
        return Renderer(self.directory.names(), color=self.color)

    @property
    def origin(self) -> Origin:
        return Origin(TEAM_ID, self.user.user_id)

    # --- the loop -------------------------------------------------------------------

    def loop(self) -> int:
        while True:
            # What the scheduled jobs posted meanwhile shows before the prompt.
            with self.lock:
                self.guarded("delivering", self.deliver)
            try:
                line = self.ask(f"{self.user.name}> ")
            except KeyboardInterrupt:
                self.write("\n(:quit or Ctrl-D leaves the shell)")
                continue
            if line is None:
                return 0
            try:
                with self.lock:
                    self.guarded(f"line {line!r}", partial(self.handle, line))
            except Quit:
                return 0

    def close(self) -> None:
        """Stop the background jobs (a run under way finishes first)."""
        self.background.stop()

    def guarded(self, what: str, work: Callable[[], object]) -> None:
        """Do ``work``, reporting any failure: one bad line must never end the session."""
        try:
            work()
        except KeyboardInterrupt:
            self.write("\n(interrupted)")
        except MlgovError as exc:
            self.write(f"⚠️ {exc}")
        except Quit:
            raise
        except Exception as exc:
            log.exception("shell: %s failed", what)
            self.write(f"error: {type(exc).__name__}: {exc} (logged; the shell goes on)")

    def handle(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        self.board.new_line()
        if is_number(line):
            press(self, line)
        elif mentions.is_mention(line):
            mentions.mention(self, line)
        elif line.startswith(":"):
            name, _, argument = line.partition(" ")
            meta = find_meta(name)
            if meta is None:
                self.write(f"Unknown shell command '{name}'. Type :help for the list.")
                return
            meta.run(self, argument.strip())
        else:
            self.command(line)

    def command(self, line: str) -> None:
        head, _, rest = line.partition(" ")
        name = head.lstrip("/").lower()
        if not head.startswith("/") and name not in PARSERS:
            known = ", ".join(f"/{c}" for c in PARSERS)
            self.write(
                f"'{head}' is neither a slash command ({known}) nor a shell command. Type :help."
            )
            return
        self.show(self.runtime.dispatcher.command(self.origin, "/" + name, to_slack_text(rest)))

    def press(self, pressed: Pressable) -> None:
        # Pressed where it was shown: a button in #churn comes from #churn, as in Slack.
        origin = replace(self.origin, channel=pressed.message.channel)
        button = pressed.button
        self.show(self.runtime.dispatcher.action(origin, button.action_id, button.value))

    def show_buttons(self, rendered: Rendered, what: str = "reply to") -> None:
        """Print ``rendered`` (numbered from the board's next number): its buttons are
        this user's alone to press, as on an ephemeral reply or their Home."""
        title = rendered.text.splitlines()[0] if rendered.text else ""
        where = f"the {what} @{self.user.name}"
        self.board.add(rendered.buttons, Message(where, title, self.user.user_id))
        self.write(rendered.text)

    def show(self, reply: Reply) -> None:
        """Print a reply (or fill in the form it opens), then what it posted in channels."""
        if reply.modal is not None:
            self.deliver()
            view = reply.modal
            filler = FormFiller(self.ask, self.write, self.renderer())
            try:
                result = filler.fill(
                    view,
                    lambda state: self.runtime.dispatcher.submit(
                        self.origin,
                        str(view.get("callback_id", "")),
                        str(view.get("private_metadata", "")),
                        state,
                    ),
                )
            except FormCancelled as cancelled:
                self.write(str(cancelled))
                return
            self.show(result)
            return
        rendered = self.renderer().blocks(reply.blocks, reply.text, self.board.next_number())
        self.show_buttons(rendered)
        self.deliver()

    def deliver(self, as_of: datetime | None = None) -> int:
        """Deliver what the last change queued, now, so output keeps its order.

        ``as_of`` delivers as if at that time too: a job run as of next week stamps its
        messages with next week, and they should print now, not wait for it.
        """
        self._delivering_as_of = as_of
        try:
            return self.outbox.deliver_due()
        finally:
            self._delivering_as_of = None

    def _delivery_time(self) -> datetime:
        now = self.runtime.clock()
        later = self._delivering_as_of
        return later if later is not None and later > now else now


def _typed_so_far(line_editing: bool) -> str:
    """What the person had typed at the prompt, to show again after background output."""
    if not line_editing:
        return ""
    try:
        import readline
    except ImportError:
        return ""
    return str(readline.get_line_buffer())


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

"""The shell's read–eval–print loop: command lines, button presses and forms, as one user.

Meta commands (``:as``, ``:press`` …) are a table of data; a later feature adds its own by
putting a :class:`MetaCommand` into :data:`META_COMMANDS`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TextIO

from bot.domain.errors import MlgovError
from bot.runtime import Runtime
from bot.services.delivery import OutboxDispatcher
from bot.shell.directory import NAME_PATTERN, TEAM_ID, Directory, Person, to_slack_text
from bot.shell.forms import FormCancelled, FormFiller
from bot.shell.home import home_command
from bot.shell.jobs import jobs_command
from bot.shell.local_slack import LocalSlack
from bot.shell.render import Button, Renderer
from bot.slack.blocks import Reply
from bot.slack.dispatch import Origin
from bot.slack.parsing import PARSERS
from storage.outbox import OutboxStore

log = logging.getLogger(__name__)


class Quit(Exception):
    """Leave the shell."""


@dataclass(frozen=True)
class MetaCommand:
    """A shell command (``:name``): ``run(session, argument)`` does it."""

    name: str
    args: str
    summary: str
    run: Callable[[Session, str], None]
    aliases: tuple[str, ...] = ()


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
        self.buttons: tuple[Button, ...] = ()
        self.slack = LocalSlack(self.write, self.directory.names, color=self.color)
        # The scheduled jobs running in the background (set by whoever starts them).
        self.background: tuple[str, ...] = ()
        # Delivered here, synchronously after each command and before each prompt, so a
        # channel post prints right under the reply that caused it; no outbox worker runs.
        owner = f"shell:{os.getpid()}:{id(self)}"
        self._delivering_as_of: datetime | None = None
        self.outbox = OutboxDispatcher(
            OutboxStore(runtime.db, owner, team_id=TEAM_ID), self.slack, self._delivery_time
        )

    # --- input and output -----------------------------------------------------------

    def write(self, text: str = "") -> None:
        line = text + "\n"
        try:
            self.stdout.write(line)
        except UnicodeEncodeError:  # a terminal that cannot show emoji still gets the words
            encoding = getattr(self.stdout, "encoding", None) or "ascii"
            self.stdout.write(line.encode(encoding, "replace").decode(encoding))
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        """Read one line after ``prompt``; None at end of input."""
        if self.line_editing:
            try:
                return input(prompt)
            except EOFError:
                self.stdout.write("\n")
                return None
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self.stdout.write("\n")
            return None
        line = line.rstrip("\r\n")
        if not self.interactive:
            self.stdout.write(line + "\n")  # echo, so a piped session reads as a transcript
        return line

    def renderer(self) -> Renderer:
        return Renderer(self.directory.names(), color=self.color)

    @property
    def origin(self) -> Origin:
        return Origin(TEAM_ID, self.user.user_id)

    # --- the loop -------------------------------------------------------------------

    def loop(self) -> int:
        while True:
            # What the scheduled jobs posted meanwhile shows before the prompt.
            self.guarded("delivering", self.deliver)
            try:
                line = self.ask(f"{self.user.name}> ")
            except KeyboardInterrupt:
                self.write("\n(:quit or Ctrl-D leaves the shell)")
                continue
            if line is None:
                return 0
            try:
                self.guarded(f"line {line!r}", partial(self.handle, line))
            except Quit:
                return 0

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
        if _is_number(line):
            press(self, line)
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

    def press(self, button: Button) -> None:
        self.show(self.runtime.dispatcher.action(self.origin, button.action_id, button.value))

    def show(self, reply: Reply) -> None:
        """Print a reply (or fill in the form it opens), then what it posted in channels."""
        if reply.modal is not None:
            self.buttons = ()
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
        rendered = self.renderer().blocks(reply.blocks, reply.text)
        self.buttons = rendered.buttons
        self.write(rendered.text)
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


# --- meta commands ------------------------------------------------------------------


def press(session: Session, argument: str) -> None:
    if not session.buttons:
        session.write("The last reply has no buttons to press.")
        return
    if not _is_number(argument) or not 1 <= int(argument) <= len(session.buttons):
        choices = "  ".join(f"[{b.number}] {b.label}" for b in session.buttons)
        session.write(f"No button {argument or '(none given)'}; the last reply has: {choices}")
        return
    button = session.buttons[int(argument) - 1]
    session.write(f"(pressing [{button.number}] {button.label})")
    session.press(button)


def switch_user(session: Session, argument: str) -> None:
    word = argument.lstrip("@")
    if not word:
        session.write(f"You are @{session.user.name}. Usage: :as <name>")
        return
    if not NAME_PATTERN.match(word):
        session.write(f"'{argument}' is not a name: use letters and digits, like :as alice.")
        return
    session.user = session.directory.resolve(word)
    session.buttons = ()
    session.write(f"You are now @{session.user.name} ({session.user.describe_roles()}).")
    if session.user.member is None:
        names = ", ".join(sorted(m.name or m.user_id for m in session.directory.members()))
        session.write(
            f"@{session.user.name} is not a member yet (members: {names or 'none'}). You can"
            " still type commands as them, and mlgov will refuse what they may not do;"
            f" an admin can add them with /mlgov member add @{session.user.name} <role> [project]."
        )


def who(session: Session, argument: str) -> None:
    members = session.directory.members()
    if not members:
        session.write("No members yet; an admin adds them with /mlgov member add @name <role>.")
    width = max((len(m.name or m.user_id) for m in members), default=0) + 1
    for m in members:
        person = session.directory.person(m.user_id)
        mark = "  ← you" if m.user_id == session.user.user_id else ""
        session.write(f"  @{person.name:<{width}} {person.describe_roles()}{mark}")
    admins = sorted(session.runtime.settings.admins)
    if admins:
        session.write(f"  Admins from MLGOV_ADMINS: {', '.join(admins)}")


def show_help(session: Session, argument: str) -> None:
    session.write(HELP_INTRO)
    for meta in META_COMMANDS.values():
        usage = f":{meta.name} {meta.args}".strip()
        aliases = f" (also {', '.join(meta.aliases)})" if meta.aliases else ""
        if len(usage) > USAGE_WIDTH:  # a long usage gets its own line
            session.write(f"  {usage}")
            usage = ""
        session.write(f"  {usage:<{USAGE_WIDTH}} {meta.summary}{aliases}")
    session.write(HELP_OUTRO)


def quit_shell(session: Session, argument: str) -> None:
    raise Quit


HELP_INTRO = """Type slash commands as in Slack: /exp help, /rotation help, /mlgov help (the slash
is optional). @name and #channel work as mentions (names of letters and digits). Replies
number their buttons [1], [2] …; type the number to press one. Forms ask one field at a time.
The rotation and stale-nudge jobs run in the background as in the server; what they post
in channels or DMs shows before your next prompt (after your next line, or just Enter).
Shell commands:"""
USAGE_WIDTH = 16
HELP_OUTRO = "  <N>              same as :press N\n  Ctrl-D           leave"

META_COMMANDS: dict[str, MetaCommand] = {
    m.name: m
    for m in (
        MetaCommand(
            "as", "<name>", "act as another person (anyone; mlgov checks roles)", switch_user
        ),
        MetaCommand("who", "", "list the members and their roles", who),
        MetaCommand("press", "<N>", "press button N of the last reply", press),
        MetaCommand(
            "jobs",
            "[run <job> [--as-of ISO-TIME]]",
            "list the scheduled jobs and their last runs; or run one now, as if at a time",
            jobs_command,
        ),
        MetaCommand(
            "home",
            "",
            "your App Home: what waits on you, as Slack's Home tab shows it",
            home_command,
        ),
        MetaCommand("help", "", "this help", show_help, aliases=(":h", ":?")),
        MetaCommand("quit", "", "leave the shell", quit_shell, aliases=(":q", ":exit")),
    )
}


def find_meta(word: str) -> MetaCommand | None:
    name = word.lower()
    for meta in META_COMMANDS.values():
        if name == ":" + meta.name or name in meta.aliases:
            return meta
    return None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

"""The shell's own commands (``:as``, ``:press``, ``:buttons`` …), as a table of data.

A later feature adds its own by putting a :class:`MetaCommand` into :data:`META_COMMANDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.shell import mentions
from bot.shell.buttons import Message, Pressable
from bot.shell.calendar import calendar_command
from bot.shell.directory import NAME_PATTERN
from bot.shell.home import home_command
from bot.shell.jobs import jobs_command
from bot.shell.statuses import status_command

if TYPE_CHECKING:
    from bot.shell.session import Session


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


def press(session: Session, argument: str) -> None:
    yours = session.board.visible_to(session.user.user_id)
    found = session.board.get(int(argument)) if is_number(argument) else None
    if found is not None and found.gone:
        session.write(
            f"{found.describe()} is gone: its post in {found.message.where} was edited since"
            " (:buttons lists what you can press now)."
        )
        return
    if not session.board:
        session.write("No buttons on screen to press; :buttons lists those of recent posts.")
        return
    if found is None:
        choices = "  ".join(p.describe() for p in yours) or "none on screen"
        session.write(
            f"No button {argument or '(none given)'}; you can press: {choices}"
            " (:buttons lists those of recent posts too)"
        )
        return
    if found not in yours:
        owner = session.directory.person(found.message.only or "").name
        session.write(
            f"{found.describe()} is on {found.message.where}, which only @{owner} sees:"
            f" :as {owner} to press it as them."
        )
        return
    # A reply's or a Home's buttons are where the person just looked; a post's, say where.
    where = f" in {found.message.where}" if found.message.channel else ""
    session.write(f"(pressing {found.describe()}{where})")
    session.press(found)


def list_buttons(session: Session, argument: str) -> None:
    """``:buttons``: what the current user can press now, message by message."""
    if argument:
        session.write("':buttons' takes no argument. Usage: :buttons")
        return
    yours = session.board.relist(session.user.user_id)
    if not yours:
        session.write("No buttons you can press now; replies and posts number theirs [1], [2] ….")
        return
    by_message: dict[Message, list[Pressable]] = {}
    for pressable in yours:
        by_message.setdefault(pressable.message, []).append(pressable)
    session.write(f"Buttons @{session.user.name} can press now, numbered afresh:")
    for message, pressables in by_message.items():
        session.write(f"  {message.where}: {message.title}")
        session.write("    " + "  ".join(p.describe() for p in pressables))


def switch_user(session: Session, argument: str) -> None:
    word = argument.lstrip("@")
    if not word:
        session.write(f"You are @{session.user.name}. Usage: :as <name>")
        return
    if not NAME_PATTERN.match(word):
        session.write(f"'{argument}' is not a name: use letters and digits, like :as alice.")
        return
    session.user = session.directory.resolve(word)
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
is optional), or mention the app: @mlgov exp list (typed in the thread of the experiment
the line names, else in #general; the reply comes in that thread). @name and #channel
work as mentions (#ml-leads too).
Buttons: every message shown with buttons — your replies, channel posts such as a review
request's Approve, DMs, your Home — numbers them. The count starts again at [1] with the
first buttons shown after each line you type and runs on through the channel posts that
follow; type the number to press one, as the person you are now. Buttons stay pressable
until newer ones are shown; one on a message only one person sees (your reply, a DM)
is theirs to press. :buttons numbers afresh all you can press now, the buttons of recent
channel posts and DMs included (a review request scrolled away). Forms ask one field at a
time.
Every scheduled job runs in the background as in `mlgov serve` (:jobs off stops them);
what they post in channels or DMs shows as it arrives. Charts are saved as files; their
path shows where Slack would show the image.
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
        MetaCommand("press", "<N>", "press button N (of a reply, a channel post, a DM)", press),
        MetaCommand(
            "buttons",
            "",
            "number afresh the buttons you can press now, recent posts' included",
            list_buttons,
        ),
        MetaCommand(
            "upload",
            "[parity] EXP-3 FILE [FILE2] [--flags]",
            "@mlgov eval (or parity) with local files, as an upload in the experiment's thread",
            mentions.upload,
        ),
        MetaCommand(
            "jobs",
            "[on|off|run <job> [--as-of ISO-TIME]]",
            "list the scheduled jobs, their last runs and whether they run in the background;"
            " on/off starts or stops them; run runs one now, as if at a time",
            jobs_command,
        ),
        MetaCommand(
            "status",
            "[@name [:emoji:] [text] [until YYYY-MM-DD] | @name clear]",
            "set someone's Slack status (who is away skips reviews and presenting)",
            status_command,
        ),
        MetaCommand(
            "home",
            "",
            "your App Home: what waits on you, as Slack's Home tab shows it",
            home_command,
        ),
        MetaCommand(
            "calendar",
            "<URL>",
            "what a calendar app subscribed to a /rotation calendar URL sees (no HTTP needed)",
            calendar_command,
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


def is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()

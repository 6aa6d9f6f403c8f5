"""``@mlgov …`` typed in the shell, and ``:upload``: Slack's mention path, files read from disk.

A mention goes through ``Dispatcher.mention`` exactly as Slack's ``app_mention`` does, with
a new event id, in a channel: the thread of the experiment the line names (where people
talk about it), else ``#general``. Its reply comes back through the outbox, in that thread.
``:upload`` is a mention with files attached: the same ``handle_upload`` as a Slack upload
reads them through a fetch that opens the local file.
"""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.errors import UsageError, ValidationError
from bot.shell.directory import TEAM_ID, to_slack_text
from bot.shell.ids import channel_id_for
from bot.slack.dispatch import Origin
from bot.slack.uploads import names_mlflow_run
from bot.slack.words import UPLOAD_USAGE

if TYPE_CHECKING:
    from bot.shell.session import Session

BOT_USER = "UMLGOV"
GENERAL = "general"  # where a mention that names no experiment is typed
MENTION = re.compile(r"^@mlgov\b", re.IGNORECASE)
KEY = re.compile(r"\bEXP-([0-9]+)\b", re.IGNORECASE)
USAGE = (
    ":upload EXP-3 FILE [--kind classification|regression] [--new-holdout]\n"
    ":upload parity EXP-3 PROTOTYPE PRODUCTION [--tolerance 1e-6] [--threshold 0.5]"
)


def is_mention(line: str) -> bool:
    return MENTION.match(line) is not None


def mention(session: Session, line: str) -> None:
    """``@mlgov exp list``: as if typed in a channel, replied to in its thread."""
    rest = MENTION.sub("", line, count=1).strip()
    name = rest.split(None, 1)[0].lstrip("/").lower() if rest else ""
    if name in UPLOAD_USAGE and not names_mlflow_run(rest):  # a run needs no file
        raise UsageError(
            f"'@mlgov {name}' reads attached files; in the shell, attach them with :upload.",
            USAGE,
        )
    _post(session, rest, [])


def upload(session: Session, argument: str) -> None:
    """``:upload [eval|parity] EXP-3 FILE… [flags]``: ``@mlgov eval`` with local files."""
    try:
        words = shlex.split(argument)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"Cannot read that line: {exc}.", USAGE) from None
    verb = "eval"
    if words and words[0].lower() in UPLOAD_USAGE:
        verb = words.pop(0).lower()
    if not words or words[0].startswith("--"):
        raise UsageError("Name the experiment, then the file.", USAGE)
    key, *rest = words
    first_flag = next((i for i, w in enumerate(rest) if w.startswith("--")), len(rest))
    names, flags = rest[:first_flag], rest[first_flag:]
    wanted = 1 if verb == "eval" else 2
    if len(names) != wanted:
        what = "one file" if wanted == 1 else "two files, the prototype's then production's"
        raise UsageError(f"{verb} takes {what}; you gave {len(names)}.", USAGE)
    files = [_local_file(name) for name in names]
    _post(session, " ".join([verb, key, *flags]), files)


def _local_file(name: str) -> dict[str, Any]:
    """A local file described as Slack describes a shared one (name, size), plus its path."""
    path = Path(name).expanduser()
    if not path.is_file():
        raise ValidationError(f"No file at '{name}' (looked in {Path.cwd()}); nothing was sent.")
    return {"name": path.name, "size": path.stat().st_size, "path": str(path.resolve())}


def read_local(file: dict[str, Any]) -> tuple[str, bytes]:
    """The upload path's Fetch, for a file on this machine."""
    try:
        return str(file["name"]), Path(str(file["path"])).read_bytes()
    except OSError as exc:
        raise ValidationError(f"I could not read {file['name']}: {exc.strerror}.") from exc


def _post(session: Session, rest: str, files: list[dict[str, Any]]) -> None:
    channel, thread = _where(session, rest)
    origin = Origin(TEAM_ID, session.user.user_id, channel=channel)
    text = f"<@{BOT_USER}> {to_slack_text(rest)}"
    event_id = "Ev" + uuid.uuid4().hex.upper()
    session.runtime.dispatcher.mention(
        origin, event_id, channel, thread, text, BOT_USER, files, read_local
    )
    session.deliver()


def _where(session: Session, rest: str) -> tuple[str, str]:
    """The channel and thread a mention is typed in: the named experiment's thread, else a
    new thread under the mention in #general."""
    match = KEY.search(rest)
    number = int(match.group(1)) if match else None
    if number is not None:
        with session.runtime.db.read() as uow:
            experiment = uow.experiments.get(TEAM_ID, number)
            project = uow.projects.get(TEAM_ID, experiment.project) if experiment else None
            thread = uow.experiments.thread_of(experiment.id) if experiment else None
        if experiment is not None and project is not None:
            if thread is None:  # never posted: the mention starts the conversation
                thread = session.slack.ts()
            session.slack.thread(thread, experiment.key)
            return project.channel_id, thread
    # Not in a thread: Slack's reply goes in a new thread under the mention itself.
    thread = session.slack.ts()
    session.slack.thread(thread)
    return channel_id_for(GENERAL), thread

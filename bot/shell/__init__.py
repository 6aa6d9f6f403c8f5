"""`mlgov shell`: the same app with no Slack at all — slash commands, buttons and forms as text.

Everything goes through the same dispatcher as Slack, so parsing, permissions, the audit
log and the messages posted in project channels are the real ones. Every scheduled job
runs in the background, as in `mlgov serve`.
"""

from __future__ import annotations

from typing import TextIO

from bot.domain.errors import MlgovError
from bot.runtime import Runtime
from bot.shell import demo as sample
from bot.shell.directory import ID_PATTERN, NAME_PATTERN, TEAM_ID, Directory, Person
from bot.shell.session import Session
from bot.shell.statuses import LocalStatuses

__all__ = ["run_shell"]


def run_shell(
    runtime: Runtime,
    *,
    user: str | None,
    demo: bool,
    stdin: TextIO,
    stdout: TextIO,
    scheduler: bool = True,
) -> int:
    """Run the terminal shell until :quit or end of input; returns the exit code.

    ``scheduler`` runs the scheduled jobs in the background from the start (tests turn it
    off, to decide themselves when jobs run; ``:jobs on|off`` switches it in the session).
    """
    directory = Directory(runtime.db)
    runtime.dispatcher.statuses = LocalStatuses(runtime.db)  # no Slack: set with :status
    if user is not None and not (NAME_PATTERN.match(user.lstrip("@")) or ID_PATTERN.match(user)):
        stdout.write(f"mlgov shell: --as {user!r} is not a name (letters and digits) or an id.\n")
        return 2
    session = Session(runtime, stdin, stdout, Person("UALICE", "alice", None))
    session.write(
        f"mlgov shell — the Slack app without Slack (workspace {TEAM_ID}, {_where(runtime)})"
    )
    # Anything a previous session queued but did not deliver is old news: deliver it quietly.
    session.slack.quiet = True
    try:
        session.deliver()
        seeded = sample.seed(runtime, session.deliver) if demo else None
    except MlgovError as exc:
        session.write(f"Could not set up the demo team: {exc}")
        return 1
    finally:
        session.slack.quiet = False
    if seeded is not None:
        session.write(
            f"Seeded a demo team: {seeded.people} people, projects"
            f" {' and '.join('#' + p for p in sample.PROJECTS)}, {seeded.experiments} experiments"
            f" over the last {seeded.weeks} weeks, {seeded.reviews} weekly reviews announced."
        )
        if seeded.holdout is not None:
            session.write(
                f"A new churn model's predictions on the held-out set are in {seeded.holdout}:"
                f" try :upload EXP-3 {sample.DEMO_HOLDOUT}"
            )
    session.user = _choose_user(runtime, directory, user)
    if not directory.members() and not runtime.settings.admins:
        sample.bootstrap_admin(runtime, session.user.user_id, session.user.name)
        session.user = directory.resolve(session.user.user_id)
        session.write(
            "This workspace was empty, so you are its first admin (the local operator owns it)."
            " Start with /mlgov project add <slug> #channel, or run `mlgov shell --demo`."
        )
    session.write(
        f"You are @{session.user.name} ({session.user.describe_roles()})."
        " Switch with :as <name>; :who lists everyone."
    )
    session.write(
        "Try /exp list all, /exp show EXP-1, /rotation show churn, :jobs."
        " :help for more, Ctrl-D leaves."
    )
    if scheduler:
        session.background.start()
    try:
        return session.loop()
    finally:
        session.close()  # a job under way finishes first


def _choose_user(runtime: Runtime, directory: Directory, user: str | None) -> Person:
    """``--as`` when given; else the first admin or manager; else MLGOV_ADMINS; else alice."""
    if user:
        return directory.resolve(user)
    found = directory.default_user()
    if found is not None:
        return directory.person(found)
    if runtime.settings.admins:
        return directory.person(sorted(runtime.settings.admins)[0])
    return directory.resolve("alice")


def _where(runtime: Runtime) -> str:
    return f"database {runtime.db.engine.url.render_as_string(hide_password=True)}"

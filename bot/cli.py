"""The `mlgov` command: the composition root, and with bot/__main__.py the only code that
reads the environment. Heavy libraries are imported inside the verbs, so --help is fast."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bot.domain.errors import ConfigError, MlgovError

DESCRIPTION = """ML project governance inside Slack.

With no verb: `serve` when SLACK_BOT_TOKEN is set, otherwise the local `shell --demo`
on SQLite, so you can try everything without Slack."""


# Exit codes: 0 done; 1 done, but a check failed (parity, --require-criterion);
# 2 refused (bad input or settings, nothing changed); 130 interrupted; 141 output closed.
CHECK_FAILED = 1
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a Unix tool cut off by `head`


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped verb or choice (`mlgov job list`)."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.5)
            if close:
                message = message.replace(
                    match.group(0),
                    f"invalid choice: '{match.group(1)}' (did you mean '{close[0]}'?"
                    f" choose from {match.group(2)})",
                )
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlgov", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mlgov {_version()}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    serve = verbs.add_parser("serve", help="run the Slack app (HTTP on $PORT, or Socket Mode)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")
    serve.add_argument("--threads", type=int, default=16, help="HTTP worker threads (16)")
    serve.add_argument(
        "--workers",
        type=_count,
        default=0,
        help="start N `mlgov worker` processes for the work; this process then only"
        " acknowledges Slack (default 0: worker threads in this process)",
    )
    serve.add_argument(
        "--inbox-threads",
        dest="inbox_threads",
        type=_positive,
        default=4,
        help="threads running stored Slack requests, per process (4)",
    )
    serve.add_argument(
        "--worker-nice",
        dest="worker_nice",
        type=_niceness,
        default=None,
        help="with --workers: the worker processes' niceness (10 on PostgreSQL, 0 on"
        " SQLite); evaluations are computed at niceness 10 in any case",
    )

    work = verbs.add_parser(
        "worker", help="run stored Slack requests, Slack deliveries and jobs (no HTTP)"
    )
    work.add_argument(
        "--threads", type=_positive, default=4, help="threads running stored Slack requests (4)"
    )
    work.add_argument(
        "--nice",
        type=_niceness,
        default=0,
        help="lower this process's CPU priority by N (0-19) before it starts working (0)",
    )
    work.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)
    work.add_argument("--acks-board", dest="acks_board", default=None, help=argparse.SUPPRESS)

    shell = verbs.add_parser("shell", help="the same app in a terminal, no Slack needed")
    shell.add_argument("--as", dest="user", default=None, help="act as this user (name or id)")
    shell.add_argument("--demo", action="store_true", help="seed a sample team first")

    jobs = verbs.add_parser("jobs", help="scheduled jobs: list them, or run one now")
    job_verbs = jobs.add_subparsers(dest="jobs_verb", metavar="JOBS_VERB", required=True)
    job_verbs.add_parser("list", help="the jobs, how often they look for work, last runs")
    run = job_verbs.add_parser("run", help="run a job now, as if at --as-of")
    run.add_argument("job", help="rotation, stale-nudges or outbox")
    run.add_argument(
        "--as-of",
        dest="as_of",
        default=None,
        help="ISO time, e.g. 2026-11-30T09:00 (team time zone unless it has an offset);"
        " a time later than now needs --dry-run or --force",
    )
    later = run.add_mutually_exclusive_group()
    later.add_argument(
        "--dry-run",
        action="store_true",
        help="show what the run would do and send; send and record nothing",
    )
    later.add_argument(
        "--force",
        action="store_true",
        help="run as of a later time for real (it uses that period up)",
    )

    audit = verbs.add_parser("audit", help="the audit trail")
    audit_verbs = audit.add_subparsers(dest="audit_verb", metavar="AUDIT_VERB", required=True)
    export = audit_verbs.add_parser("export", help="write the trail of gate decisions")
    export.add_argument("--project", default=None, help="only this project (slug)")
    export.add_argument("--since", default=None, help="only from this date (YYYY-MM-DD)")
    export.add_argument("--format", choices=("csv", "json"), required=True)
    export.add_argument("--output", default="-", help="file to write (default: stdout)")

    evaluate = verbs.add_parser("eval", help="record an evaluation or a parity check")
    eval_verbs = evaluate.add_subparsers(dest="eval_verb", metavar="EVAL_VERB", required=True)
    push = eval_verbs.add_parser("push", help="record predictions on the held-out set")
    push.add_argument("experiment", help="experiment key, e.g. EXP-7")
    push.add_argument("file", help="CSV, Parquet or JSON: y_true, y_score (or y_pred), id")
    push.add_argument("--kind", choices=("classification", "regression"), default=None)
    push.add_argument("--team", default=None, help="workspace id (when there are several)")
    push.add_argument(
        "--new-holdout",
        action="store_true",
        help="a new held-out set (or kind): record without comparing with the baseline",
    )
    push.add_argument(
        "--require-criterion",
        action="store_true",
        help="a CI gate: exit 1 unless the experiment's success criterion is met",
    )
    imported = eval_verbs.add_parser(
        "import", help="record the predictions an MLflow run logged (MLFLOW_TRACKING_URI)"
    )
    imported.add_argument("experiment", help="experiment key, e.g. EXP-7")
    imported.add_argument(
        "--mlflow-run", required=True, help="the run's id (or its MLflow URL)"
    )
    imported.add_argument(
        "--artifact",
        default=None,
        help="the run's predictions file (default: MLGOV_MLFLOW_ARTIFACT, mlgov/predictions)",
    )
    imported.add_argument("--kind", choices=("classification", "regression"), default=None)
    imported.add_argument(
        "--new-holdout",
        action="store_true",
        help="a new held-out set (or kind): record without comparing with the baseline",
    )
    imported.add_argument("--team", default=None, help="workspace id (when there are several)")
    parity = eval_verbs.add_parser("parity", help="prototype against production scores")
    parity.add_argument("experiment", help="experiment key, e.g. EXP-7")
    parity.add_argument("prototype", help="the prototype's scores (CSV, Parquet or JSON)")
    parity.add_argument("production", help="production's scores on the same rows")
    parity.add_argument(
        "--tolerance", type=float, default=1e-6, help="|Δscore| allowed, ≥ 0 (1e-6)"
    )
    parity.add_argument(
        "--threshold", type=float, default=0.5, help="decision threshold, in (0, 1) (0.5)"
    )
    parity.add_argument("--team", default=None, help="workspace id (when there are several)")

    db = verbs.add_parser("db", help="database schema")
    db_verbs = db.add_subparsers(dest="db_verb", metavar="DB_VERB", required=True)
    db_verbs.add_parser("upgrade", help="apply migrations up to this version's schema")
    db_verbs.add_parser("current", help="print the schema revision of the database")
    return parser


def _count(value: str) -> int:
    """A whole number ≥ 0, for argparse."""
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, not {value!r}")
    return int(value)


def _positive(value: str) -> int:
    """A whole number ≥ 1, for argparse."""
    number = _count(value)
    if number < 1:
        raise argparse.ArgumentTypeError("expected a whole number ≥ 1")
    return number


def _niceness(value: str) -> int:
    """A niceness increment 0-19, for argparse."""
    number = _count(value)
    if number > 19:
        raise argparse.ArgumentTypeError("expected a niceness from 0 to 19")
    return number


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlgov")
    except PackageNotFoundError:
        return "unknown"


def load_environment() -> dict[str, str]:
    """The process environment over the values of ``./.env`` (the environment wins)."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v}
    values.update(os.environ)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = _run(argv)
        finally:  # also after argparse's --help: a closed pipe shows here, not at exit
            sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`mlgov audit export … | head`): stop quietly, like
        # Unix tools do, and keep Python from complaining while it flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from bot.config import Settings

        settings = Settings.from_env(load_environment())
        verb = args.verb or ("serve" if settings.has_slack else "shell")
        configure_logging(settings.log_level, quiet=verb == "shell")
        if verb == "serve":
            from bot.cli_serve import serve

            return serve(settings, args)
        if verb == "worker":
            from bot.cli_worker import worker

            return worker(settings, args)
        if verb == "shell":
            return shell(
                settings,
                getattr(args, "user", None),
                demo=getattr(args, "demo", True) if args.verb else True,
            )
        if verb == "jobs":
            from bot.cli_jobs import jobs

            return jobs(settings, args)
        if verb == "audit":
            from bot.cli_audit import audit_export

            return audit_export(settings, args)
        if verb == "eval":
            from bot.cli_eval import evaluate

            return evaluate(settings, args)
        return database(settings, args.db_verb)
    except MlgovError as exc:
        print(f"mlgov: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an unreachable database: one line, not a traceback
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError):
            raise
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"mlgov: cannot use the database: {reason}", file=sys.stderr)
        return 2


def configure_logging(level: str | None, quiet: bool) -> None:
    """INFO for the service (WARNING in the shell, whose output is the conversation).

    ``level`` was checked by Settings: an unknown name stops the start there."""
    name = (level or ("WARNING" if quiet else "INFO")).upper()
    logging.basicConfig(level=name, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(name)))


def database(settings: Any, verb: str) -> int:
    from storage import migrate
    from storage.db import create_db_engine, missing_sqlite_file

    missing = missing_sqlite_file(settings.database_url)
    if verb == "current" and missing:  # opening it would create it
        raise ConfigError(
            f"There is no database at {missing}: the file does not exist"
            " (`mlgov db upgrade` creates it)."
        )
    engine = create_db_engine(settings.database_url)
    if verb == "upgrade":
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        print(f"schema: {before or 'empty'} -> {migrate.current_revision(engine)}")
    else:
        print(
            f"schema: {migrate.current_revision(engine) or 'empty'}"
            f" (this mlgov needs {migrate.head_revision()})"
        )
    return 0


def shell(settings: Any, user: str | None, demo: bool) -> int:
    from bot.runtime import Runtime
    from bot.shell import run_shell

    runtime = Runtime.create(settings)
    try:
        return run_shell(runtime, user=user, demo=demo, stdin=sys.stdin, stdout=sys.stdout)
    finally:
        runtime.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

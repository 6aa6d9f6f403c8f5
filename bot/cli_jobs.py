"""`mlgov jobs list|run`: the scheduled jobs from a terminal, one of them run now."""

from __future__ import annotations

import argparse
import difflib
from datetime import datetime, timedelta
from typing import Any

from bot.domain.errors import ConfigError

LAST_RUNS = 3


def jobs(settings: Any, args: argparse.Namespace) -> int:
    """List the jobs, or run one as if at ``--as-of`` (refused in the future unless asked)."""
    from bot.jobs import JOBS, check_as_of, describe_queued, rehearse
    from bot.runtime import Runtime

    if args.jobs_verb == "run" and args.job not in JOBS:
        close = difflib.get_close_matches(args.job, JOBS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"No job '{args.job}'{hint}; jobs: {', '.join(JOBS)}.")
    runtime = Runtime.create(settings, upgrade=False)
    try:
        if args.jobs_verb == "list":
            list_jobs(runtime)
            return 0
        chosen = JOBS[args.job]
        now = runtime.clock()
        as_of = _as_of(args.as_of, settings.zone) if args.as_of else now
        check_as_of(as_of, now, dry_run=args.dry_run, force=args.force)
        if args.dry_run:
            done, queued = rehearse(chosen, runtime.job_env(), as_of)
            print(f"{chosen.name} as of {as_of.isoformat()} (dry run: nothing sent or recorded):")
            for line in done or ["nothing due"]:
                print(f"  {line}")
            for message in queued:
                print(f"  would send {describe_queued(message)}")
            return 0
        if settings.has_slack:
            from bot.slack.app import web_client
            from bot.slack.web_api import WebApi

            client = web_client(settings.slack_bot_token, settings.slack_api_url)
            runtime.attach_outbox(WebApi(client))
            runtime.read_statuses(client)
        done = chosen.run(runtime.job_env(), as_of)  # a failure shows, unlike in the scheduler
        if runtime.outbox is not None and chosen.name != "outbox":
            runtime.outbox.deliver_due()
        print(f"{chosen.name} as of {as_of.isoformat()}:")
        for line in done or ["nothing due"]:
            print(f"  {line}")
        return 0
    finally:
        runtime.close()


def list_jobs(runtime: Any) -> None:
    """Each job: how often it looks, what it does, what it covers, its last runs."""
    from bot.jobs import JOBS

    with runtime.db.read() as uow:
        projects = uow.projects.everywhere()
        slugs = {str(p.id): p.slug for p in projects}
        for job in JOBS.values():
            print(f"{job.name:<17} every {_every(job.every):<7} {job.summary}")
            if job.covers == "project":
                names = ", ".join(sorted({p.slug for p in projects})) or "none yet"
                print(f"{'':<17} projects: {names}")
            else:
                print(f"{'':<17} covers: {job.covers}")
            runs = uow.ledger.last_runs(job.name, LAST_RUNS)
            last = "; ".join(
                f"{slugs.get(scope, scope)} {period} ({when:%Y-%m-%d %H:%M}Z)"
                for scope, period, when in runs
            )
            if last:
                print(f"{'':<17} last: {last}")


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _as_of(text: str, zone: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--as-of must be an ISO time like 2026-11-30T09:00, not {text!r}."
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment

"""APScheduler 3.x drives the jobs; the run ledger, not the scheduler, makes them exactly-once.

Each replica keeps its own in-memory job store (APScheduler must not share a store
between processes) and simply looks for due work every few seconds or minutes. A run
missed while the service was down is made up by the first look after start, within
each job's grace window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.jobs import JOBS, Job, JobEnv

log = logging.getLogger(__name__)


def run_job(job: Job, env: JobEnv, now: datetime) -> list[str]:
    """Run ``job`` as if at ``now``, logging what it did; never raises."""
    try:
        done = job.run(env, now)
    except Exception:  # one failed look must not stop the schedule; it runs again soon
        log.exception("job %s failed", job.name)
        return []
    for line in done:
        log.info("job %s: %s", job.name, line)
    return done


def start_scheduler(
    env: JobEnv,
    clock: Callable[[], datetime],
    names: tuple[str, ...] | None = None,
    after: Callable[[], object] | None = None,
) -> BackgroundScheduler:
    """Start every job (or ``names``) now and then at its interval, in the background.

    ``after`` is called after each run (the shell shows what the run posted at once).
    """
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for job in JOBS.values():
        if (names is not None and job.name not in names) or not job.enabled(env):
            continue
        scheduler.add_job(
            lambda job=job: _run(job, env, clock, after),
            "interval",
            seconds=job.every.total_seconds(),
            id=job.name,
            next_run_time=datetime.now(UTC),  # a first look at start makes up missed runs
        )
    scheduler.start()
    return scheduler


def _run(
    job: Job, env: JobEnv, clock: Callable[[], datetime], after: Callable[[], object] | None
) -> None:
    run_job(job, env, clock())
    if after is not None:
        try:
            after()
        except Exception:  # the schedule goes on whatever the listener does
            log.exception("after job %s failed", job.name)

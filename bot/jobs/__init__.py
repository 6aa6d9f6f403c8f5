"""Scheduled jobs, registered as data. Each calls one service and is idempotent per period
through the run ledger, so any number of replicas may run them at any time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.digest import run_digest
from bot.services.home import refresh_homes
from bot.services.housekeeping import run_housekeeping
from bot.services.nudges import run_stale_nudges
from bot.services.ports import Notices
from bot.services.reviews import run_review_reminders
from bot.services.rotation import run_rotation
from storage.unit_of_work import Database


@dataclass(frozen=True)
class JobEnv:
    """What jobs need; ``deliver`` sends the outbox now (None without Slack)."""

    db: Database
    notices: Notices
    timezone: str
    deliver: Callable[[], int] | None = None


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    every: timedelta  # how often each replica looks for due work
    run: Callable[[JobEnv, datetime], list[str]]


def _outbox(env: JobEnv, now: datetime) -> list[str]:
    if env.deliver is None:
        return ["no Slack credentials: messages stay queued"]
    sent = env.deliver()
    return [f"delivered {sent} Slack message(s)"] if sent else []


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "rotation",
            "announce each project's weekly review at its time; DM the presenter a day before",
            timedelta(minutes=1),
            lambda env, now: run_rotation(env.db, env.notices, now, env.timezone),
        ),
        Job(
            "digest",
            "DM each project's managers and subscribers its weekly digest at its digest_time",
            timedelta(minutes=1),
            lambda env, now: run_digest(env.db, env.notices, now, env.timezone),
        ),
        Job(
            "review-reminders",
            "DM reviewers after 2 working days, replace them after 3, tell managers after 4",
            timedelta(minutes=15),
            lambda env, now: run_review_reminders(env.db, env.notices, now, env.timezone),
        ),
        Job(
            "stale-nudges",
            "DM owners of experiments idle for 14 days, once per experiment per week",
            timedelta(hours=1),
            lambda env, now: run_stale_nudges(env.db, env.notices, now),
        ),
        Job(
            "housekeeping",
            "forget Slack event ids after a day and delivered messages after a week",
            timedelta(hours=6),
            lambda env, now: run_housekeeping(env.db, now),
        ),
        Job(
            "home",
            "republish the App Home of people who opened it when a change concerns them",
            timedelta(seconds=30),
            lambda env, now: refresh_homes(env.db, env.notices, now, env.timezone),
        ),
        Job(
            "outbox",
            "deliver pending Slack messages (serve also delivers right after each change)",
            timedelta(seconds=30),
            _outbox,
        ),
    )
}

"""Scheduled jobs, registered as data. Each calls one service and is idempotent per period
through the run ledger, so any number of replicas may run them at any time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, replace
from datetime import datetime, timedelta

from bot.domain.errors import ValidationError
from bot.domain.model import OutgoingMessage
from bot.services.digest import run_digest
from bot.services.home import refresh_homes
from bot.services.housekeeping import run_housekeeping
from bot.services.mlflow_sync import run_mlflow_sync
from bot.services.nudges import run_stale_nudges
from bot.services.ports import MlflowSource, Notices, Statuses
from bot.services.registry_gate import RegistryGate
from bot.services.reviews import run_review_reminders
from bot.services.rotation import run_rotation
from bot.services.swap_requests import follow_up_offers
from storage.rehearsal import Rehearsal
from storage.unit_of_work import Database


@dataclass(frozen=True)
class JobEnv:
    """What jobs need; ``deliver`` sends the outbox now (None without Slack); ``mlflow``
    the MLflow server runs are followed on (None: MLFLOW_TRACKING_URI is not set);
    ``statuses`` reads Slack statuses (None without Slack)."""

    db: Database
    notices: Notices
    timezone: str
    deliver: Callable[[], int] | None = None
    _: KW_ONLY  # the rest by name only: their order means nothing
    mlflow: MlflowSource | None = None
    rehearsal: bool = False  # a dry run: nothing is kept, and nothing written to MLflow
    statuses: Statuses | None = None


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    every: timedelta  # how often each replica looks for due work
    run: Callable[[JobEnv, datetime], list[str]]
    # What one run looks at, for `jobs list`: "project" jobs name the projects.
    covers: str = "project"
    # Whether the schedule runs it here (`jobs run` always does, and says why it is off).
    enabled: Callable[[JobEnv], bool] = lambda env: True


def _outbox(env: JobEnv, now: datetime) -> list[str]:
    if env.deliver is None:
        return ["no Slack credentials: messages stay queued"]
    sent = env.deliver()
    return [f"delivered {sent} Slack message(s)"] if sent else []


def _mlflow_sync(env: JobEnv, now: datetime) -> list[str]:
    """Follow the linked runs; then the registered models that rules name (the gate)."""
    done = run_mlflow_sync(env.db, env.notices, env.mlflow, now, env.timezone)
    if env.mlflow is None:
        return done
    gate = RegistryGate(env.db, env.mlflow.client, env.notices, lambda: now, not env.rehearsal)
    return done + gate.poll()


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "rotation",
            "announce each project's weekly review at its time; DM the presenter a day before;"
            " close swap offers that no longer hold, tell managers of those nobody took",
            timedelta(minutes=1),
            lambda env, now: (
                run_rotation(env.db, env.notices, now, env.timezone, env.statuses)
                + follow_up_offers(env.db, env.notices, now, env.timezone)
            ),
        ),
        Job(
            "digest",
            "DM each project's managers and subscribers its weekly digest at its digest_time",
            timedelta(minutes=1),
            lambda env, now: run_digest(env.db, env.notices, now, env.timezone),
        ),
        Job(
            "review-reminders",
            "DM reviewers after 2 working days, replace them after 3, tell managers after 4;"
            " send snoozed reminders when due",
            timedelta(minutes=15),
            lambda env, now: run_review_reminders(
                env.db, env.notices, now, env.timezone, env.statuses
            ),
            covers="open reviews",
        ),
        Job(
            "stale-nudges",
            "DM owners of experiments idle for 14 days, once per experiment per week;"
            " send snoozed nudges when due",
            timedelta(minutes=15),
            lambda env, now: run_stale_nudges(env.db, env.notices, now),
            covers="idle experiments",
        ),
        Job(
            "housekeeping",
            "forget Slack event ids after a day and delivered messages after a week",
            timedelta(hours=6),
            lambda env, now: run_housekeeping(env.db, now),
            covers="the whole database",
        ),
        Job(
            "home",
            "republish the App Home of people who opened it when a change concerns them",
            timedelta(seconds=30),
            lambda env, now: refresh_homes(env.db, env.notices, now, env.timezone),
            covers="people who opened the Home",
        ),
        Job(
            "mlflow-sync",
            "follow MLflow runs tagged mlgov.experiment: offer Start, import predictions,"
            " report failures (off without MLFLOW_TRACKING_URI)",
            timedelta(minutes=1),
            _mlflow_sync,
            covers="linked MLflow runs",
            enabled=lambda env: env.mlflow is not None,
        ),
        Job(
            "outbox",
            "deliver pending Slack messages (serve also delivers right after each change)",
            timedelta(seconds=30),
            _outbox,
            covers="pending Slack messages",
        ),
    )
}


def check_as_of(as_of: datetime, now: datetime, *, dry_run: bool, force: bool) -> None:
    """Refuse a run as if in the future: it would use up that period for real."""
    if as_of > now and not (dry_run or force):
        raise ValidationError(
            f"--as-of {as_of.isoformat(timespec='minutes')} is later than now"
            f" ({now.astimezone(as_of.tzinfo).isoformat(timespec='minutes')}): a run now would"
            " send that period's messages early and use the period up. Add --dry-run to see"
            " what it would send, or --force to run it anyway."
        )


def describe_queued(message: OutgoingMessage, where: Callable[[str], str] = str) -> str:
    """One line for a Slack call a dry run would make: method, where (a channel or user id,
    named by ``where``), and its text (or file)."""
    payload = message.payload
    text = payload.get("text") or payload.get("title") or payload.get("filename") or ""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    to = payload.get("channel") or payload.get("user_id") or message.channel
    return f"{message.method} to {where(str(to))}: {first[:200]}"


def rehearse(job: Job, env: JobEnv, now: datetime) -> tuple[list[str], list[OutgoingMessage]]:
    """What ``job`` would do at ``now`` and the messages it would queue; nothing is kept."""
    if job.name == "outbox":
        return ["a dry run delivers nothing"], []
    with Rehearsal(env.db) as rehearsal:
        done = job.run(replace(env, db=rehearsal.db, deliver=None, rehearsal=True), now)
        return done, list(rehearsal.queued)

"""``:jobs`` in the shell: the scheduled jobs, their last runs, and one job run now as if at
a given time — its channel posts and DMs printed right under it; ``:jobs on|off`` runs
every job on its schedule in the background, as ``mlgov serve`` does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain.errors import UsageError
from bot.jobs import JOBS, Job, check_as_of, describe_queued, rehearse
from bot.jobs.scheduler import start_scheduler
from bot.shell.directory import TEAM_ID

if TYPE_CHECKING:
    from bot.shell.session import Session

# What the shell runs in the background: every job but the outbox, which the shell delivers
# itself, as soon as a command or a job has queued something.
BACKGROUND_JOBS = tuple(name for name in JOBS if name != "outbox")
USAGE = ":jobs [list|on|off]  or  :jobs run <job> [--as-of ISO-TIME] [--dry-run|--force]"
LAST_RUNS = 3


class Background:
    """The scheduled jobs on their schedules while the session lasts; on or off."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._scheduler: Any | None = None

    @property
    def on(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        if self._scheduler is not None:
            return
        runtime = self.session.runtime
        # No deliver: what a run queues, the session shows itself, right after the run.
        env = replace(runtime.job_env(), deliver=None)
        self._scheduler = start_scheduler(
            env, runtime.clock, BACKGROUND_JOBS, after=self.session.arrived
        )

    def stop(self) -> None:
        """Stop the schedule; a job under way finishes first."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            with self.session.pausing():
                scheduler.shutdown(wait=True)


def jobs_command(session: Session, argument: str) -> None:
    """``:jobs``, ``:jobs list|on|off``, ``:jobs run <job> [--as-of T] [--dry-run|--force]``."""
    words = argument.split()
    verb = words[0].lower() if words else "list"
    if verb == "list" and len(words) <= 1:
        list_jobs(session)
    elif verb in ("on", "off") and len(words) == 1:
        switch(session, verb == "on")
    elif verb == "run":
        asked = parse_run(words[1:], session.runtime.settings.zone)
        run(session, asked.job, asked.as_of, dry_run=asked.dry_run, force=asked.force)
    else:
        raise UsageError(f"Unknown :jobs command '{argument}'.", USAGE)


@dataclass(frozen=True)
class RunAsked:
    """``:jobs run``'s arguments: the job, as if when, and the future-run policy's flags."""

    job: Job
    as_of: datetime | None
    dry_run: bool = False
    force: bool = False


def parse_run(words: list[str], zone: ZoneInfo) -> RunAsked:
    """The job, the ``--as-of`` time (naive times are in the team's zone ``zone``), flags."""
    names: list[str] = []
    as_of: str | None = None
    flags = {"--dry-run": False, "--force": False}
    rest = iter(words)
    for word in rest:
        flag, equals, value = word.partition("=")
        if word.lower() in flags:
            flags[word.lower()] = True
        elif flag.lower() == "--as-of":
            as_of = value if equals else next(rest, None)
            if not as_of:
                raise UsageError("--as-of needs a time, like 2026-11-30T09:00.", USAGE)
        elif word.startswith("--"):
            raise UsageError(f"Unknown option '{word}'.", USAGE)
        else:
            names.append(word)
    if len(names) != 1:
        raise UsageError("Name one job to run.", USAGE + f"  (jobs: {', '.join(JOBS)})")
    job = JOBS.get(names[0].lower())
    if job is None:
        raise UsageError(f"No job '{names[0]}'; jobs: {', '.join(JOBS)}.", USAGE)
    if flags["--dry-run"] and flags["--force"]:
        raise UsageError("--dry-run sends nothing and --force sends anyway: choose one.", USAGE)
    moment = None if as_of is None else parse_time(as_of, zone)
    return RunAsked(job, moment, flags["--dry-run"], flags["--force"])


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--as-of must be an ISO time like 2026-11-30T09:00 (team time) or"
            f" 2026-11-30T08:00+00:00, not '{text}'.",
            USAGE,
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def run(
    session: Session,
    job: Job,
    as_of: datetime | None,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> None:
    """Run ``job`` now, as if at ``as_of``; print what it did, then what it posted.

    As ``mlgov jobs run``: a time later than now is refused unless ``--dry-run`` (show what
    would be sent; nothing sent or recorded) or ``--force``.
    """
    runtime = session.runtime
    zone = runtime.settings.zone
    now = as_of or runtime.clock()
    check_as_of(now, runtime.clock(), dry_run=dry_run, force=force)
    env = replace(runtime.job_env(), deliver=session.deliver)
    when = f"{now.astimezone(zone):%a %Y-%m-%d %H:%M} ({zone.key})"
    if dry_run:
        done, queued = rehearse(job, env, now)
        session.write(f"{job.name} as of {when} (dry run: nothing sent or recorded):")
        renderer = session.renderer()
        for line in done or ["nothing due"]:
            session.write("  " + renderer.mrkdwn(line))
        for message in queued:
            line = describe_queued(message, lambda to: renderer.mrkdwn(_mention(to)))
            session.write("  would send " + renderer.mrkdwn(line))
        return
    session.write(f"{job.name} as of {when}:")
    # Not scheduler.run_job: that logs a failure and carries on, which here would read as
    # "nothing due"; the shell reports the failure instead and goes on to the next line.
    done = job.run(env, now)
    renderer = session.renderer()
    for line in done or ["nothing due"]:
        session.write("  " + renderer.mrkdwn(line))
    # Messages are stamped with the job's time: deliver as if then, so a run as of next
    # Monday prints its announcement now rather than leaving it queued until Monday.
    session.deliver(as_of=now)


def _mention(to: str) -> str:
    """A channel or user id as Slack would mention it, for the renderer to name."""
    return f"<@{to}>" if to[:1] in ("U", "W") else f"<#{to}>"


def list_jobs(session: Session) -> None:
    zone = session.runtime.settings.zone
    with session.runtime.db.read() as uow:
        projects = {str(p.id): p.slug for p in uow.projects.everywhere()}
        runs = {job.name: uow.ledger.last_runs(job.name, LAST_RUNS) for job in JOBS.values()}
    session.write(f"Scheduled jobs (times in {zone.key}):")
    width = max(len(name) for name in JOBS) + 2
    for job in JOBS.values():
        session.write(f"  {job.name:<{width}}every {_every(job.every):<8}{job.summary}")
        last = [
            f"{_scope(scope, projects)} {period} ({_local(when, zone)})"
            for scope, period, when in runs[job.name]
        ]
        label = f"  {'':<{width}}last runs: "
        session.write(label + f"\n{'':<{len(label)}}".join(last or ["none recorded"]))
    session.write(_state(session))
    session.write("Run one now with :jobs run <job> [--as-of ISO-TIME] [--dry-run|--force].")


def switch(session: Session, on: bool) -> None:
    """``:jobs on`` / ``:jobs off``."""
    if on == session.background.on:
        session.write(f"Already so. {_state(session)}")
        return
    if on:
        session.background.start()
    else:
        session.background.stop()
    session.write(_state(session))


def _state(session: Session) -> str:
    if session.background.on:
        return (
            "Background jobs: on — every job runs on its schedule, as in `mlgov serve`; what"
            " they post shows as it arrives (the shell delivers the outbox itself)."
            " :jobs off stops them."
        )
    return "Background jobs: off — nothing runs on a schedule; :jobs on starts them."


def _every(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _scope(scope: str, projects: dict[str, str]) -> str:
    """A project's slug for a project id; an experiment key for ``TLOCAL:EXP-3``."""
    if scope in projects:
        return projects[scope]
    team, _, rest = scope.partition(":")
    return rest if team == TEAM_ID and rest else scope


def _local(when: datetime, zone: ZoneInfo) -> str:
    if when.tzinfo is None:  # stored as UTC
        when = when.replace(tzinfo=UTC)
    return f"{when.astimezone(zone):%a %Y-%m-%d %H:%M}"

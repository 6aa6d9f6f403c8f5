"""``:jobs`` in the shell: the scheduled jobs, their last runs, and one job run now as if at
a given time — its channel posts and DMs printed right under it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.errors import UsageError
from bot.jobs import JOBS, Job, JobEnv
from bot.shell.directory import TEAM_ID

if TYPE_CHECKING:
    from bot.shell.session import Session

# What the shell runs in the background; the outbox it delivers itself, at every prompt.
BACKGROUND_JOBS = ("rotation", "stale-nudges")
USAGE = ":jobs [list]  or  :jobs run <job> [--as-of ISO-TIME]"
LAST_RUNS = 3


def jobs_command(session: Session, argument: str) -> None:
    """``:jobs``, ``:jobs list``, ``:jobs run <job> [--as-of ISO-TIME]``."""
    words = argument.split()
    verb = words[0].lower() if words else "list"
    if verb == "list" and len(words) <= 1:
        list_jobs(session)
    elif verb == "run":
        job, as_of = parse_run(words[1:], session.runtime.settings.zone)
        run(session, job, as_of)
    else:
        raise UsageError(f"Unknown :jobs command '{argument}'.", USAGE)


def parse_run(words: list[str], zone: ZoneInfo) -> tuple[Job, datetime | None]:
    """The job and the ``--as-of`` time (naive times are in the team's zone ``zone``)."""
    names: list[str] = []
    as_of: str | None = None
    rest = iter(words)
    for word in rest:
        flag, equals, value = word.partition("=")
        if flag.lower() == "--as-of":
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
    return job, None if as_of is None else parse_time(as_of, zone)


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


def run(session: Session, job: Job, as_of: datetime | None) -> None:
    """Run ``job`` now, as if at ``as_of``; print what it did, then what it posted."""
    runtime = session.runtime
    zone = runtime.settings.zone
    now = as_of or runtime.clock()
    session.write(f"{job.name} as of {now.astimezone(zone):%a %Y-%m-%d %H:%M} ({zone.key}):")
    env = JobEnv(runtime.db, runtime.dispatcher.notices, runtime.settings.timezone, session.deliver)
    # Not scheduler.run_job: that logs a failure and carries on, which here would read as
    # "nothing due"; the shell reports the failure instead and goes on to the next line.
    done = job.run(env, now)
    renderer = session.renderer()
    for line in done or ["nothing due"]:
        session.write("  " + renderer.mrkdwn(line))
    # Messages are stamped with the job's time: deliver as if then, so a run as of next
    # Monday prints its announcement now rather than leaving it queued until Monday.
    session.deliver(as_of=now)


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
    if session.background:
        running = " and ".join(session.background)
        session.write(
            f"This shell runs {running} in the background; what they post shows before your"
            " next prompt."
        )
    else:
        session.write("No jobs run in the background in this shell.")
    session.write("Run one now with :jobs run <job> [--as-of ISO-TIME].")


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

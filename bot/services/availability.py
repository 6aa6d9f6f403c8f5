"""Who is away by their Slack status (SPEC §13), for reviewer selection and the rotation.

Statuses come through the Statuses port (bot.slack.statuses), which keeps them a few
minutes and writes what Slack answered to the database. No transaction ever waits on
Slack: a use case that needs a status nobody read recently raises StatusesNeeded, and
:func:`fetching_statuses` fetches it after the rollback (within a deadline before an ack)
and runs the use case again. When Slack cannot be asked, mlgov's own records
(``/rotation ooo``) decide alone, and what it posts says so.

Paths that must never call Slack (calendar feeds, the Home, the digest, the read API) run
with no port (``ctx.statuses`` None) and use the statuses last read, as stored: a status
counts until its expiry however long ago it was read, one without an expiry for a week
from its reading (bot.domain.availability.OPEN_ENDED).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.domain.availability import FRESH, SlackStatus, as_absence, away_at
from bot.domain.rotation import Absence
from bot.domain.workspace_rules import WorkspaceRules
from bot.services.ports import Context, Statuses, StatusesNeeded
from storage.unit_of_work import UnitOfWork

T = TypeVar("T")
# A use case may need statuses of several groups in turn (a project's scientists, then a
# rotation's pool): each round fetches what the one before was missing.
ROUNDS = 4


@dataclass(frozen=True)
class SlackAway:
    """Who Slack says is away now, and why Slack could not be asked ("" when it was, or
    when statuses are not used here)."""

    away: dict[str, SlackStatus] = field(default_factory=dict)
    unchecked: str = ""


def unchecked_note(why: str) -> str:
    """What an assignment says when Slack statuses could not be read."""
    return (
        f"Slack statuses could not be read ({why}): chosen by mlgov's own out-of-office"
        " records (`/rotation ooo`) alone."
    )


def _reading(
    uow: UnitOfWork, ctx: Context, users: Sequence[str]
) -> tuple[dict[str, SlackStatus], str, WorkspaceRules]:
    """The statuses of ``users``, why Slack could not be asked, and the workspace's rules.

    With a port: those read within :data:`FRESH` (here, or by another process, as stored),
    StatusesNeeded for the rest. Without: the statuses last read, as stored."""
    if not users:
        return {}, "", WorkspaceRules()
    team = ctx.actor.team_id
    rules = uow.workspaces.rules(team)
    if not rules.uses_slack_status:
        return {}, "", rules
    if ctx.statuses is None:
        return uow.slack_statuses.of(team, users), "", rules
    reading = ctx.statuses.read(team, list(users))
    found = dict(reading.statuses)
    if reading.missing:
        found |= uow.slack_statuses.of(team, reading.missing, since=ctx.now - FRESH)
        needed = [u for u in reading.missing if u not in found]
        if needed:
            raise StatusesNeeded(team, needed)
    return found, reading.problem, rules


def slack_away(uow: UnitOfWork, ctx: Context, users: Sequence[str]) -> SlackAway:
    """Those of ``users`` whose Slack status says they are away at ``ctx.now``."""
    statuses, problem, rules = _reading(uow, ctx, users)
    away = {u: s for u, s in statuses.items() if away_at(s, rules, ctx.now)}
    return SlackAway(away, problem)


def slack_absences(
    uow: UnitOfWork, ctx: Context, users: Sequence[str], zone: ZoneInfo
) -> tuple[list[Absence], str]:
    """Slack statuses of ``users`` as absences (today to their expiry), for the rotation,
    and why Slack could not be asked ("" when it was)."""
    statuses, problem, rules = _reading(uow, ctx, users)
    found = [as_absence(u, s, rules, ctx.now, zone) for u, s in statuses.items()]
    return [a for a in found if a is not None], problem


def fetching_statuses(
    statuses: Statuses | None, work: Callable[[], T], deadline: float | None = None
) -> T:
    """Run ``work`` (one whole transaction); when it needed Slack statuses nobody held,
    fetch them, outside any transaction, and run it again.

    ``deadline`` (a ``time.monotonic()`` value; before an ack): Slack is waited on until
    then at most, over all rounds; whoever has not answered by then counts as a status
    Slack could not be asked for (and is read on in the background for next time)."""
    for _ in range(ROUNDS):
        try:
            return work()
        except StatusesNeeded as need:
            if statuses is None:
                raise
            statuses.fetch(need.team_id, need.users, deadline=deadline)
    return work()

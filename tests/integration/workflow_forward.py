"""No dead ends, tried for real: the whole team helps one experiment to a final state.

Every person (and, as a last resort, an admin adding two scientists and an engineer to the
project — what a real team does when a review "needs a reviewer") tries the moves that
could take the experiment forward, in a fixed order. A round in which nobody can move it
is a dead end; abandon is never tried.
"""

from __future__ import annotations

from bot.domain.lifecycle import FINAL
from bot.domain.model import Experiment, Status
from tests.integration.conftest import TEAM
from tests.integration.workflow_world import ADMINS, PEOPLE, World

HELPERS = ("UHELPSCI", "UHELPSCJ", "UHELPENG")
HELPER_ROLES = ("scientist", "scientist", "engineer")  # enough for a quorum of 2
MAX_ROUNDS = 40
STALL = 6  # rounds in one status before the admin adds a reviewer, and again
CRITERION = "--hypothesis the change helps --metric auc --min-delta 0.01"


def moves(world: World, e: Experiment) -> list[tuple[str, str]]:
    """What could move ``e`` on from its status, most direct first (no abandon)."""
    key = e.key
    if e.status is Status.PROPOSED:
        found = []
        if not e.hypothesis.strip() or e.criterion is None:
            found.append(("/exp", f"edit {key} {CRITERION}"))
        found += [("/exp", f"start {key}"), ("/exp", f"start {key} --force")]
        found.append(("/review", f"approve {key} design looks right"))
        if not _waiting(world, e):
            found.append(("/review", f"request {key} design"))
        return found
    if e.status in (Status.RUNNING, Status.ANALYZING):
        return [("/exp", f"conclude {key} success it worked")]
    if e.status is Status.IN_REVIEW:
        found = [("/review", f"approve {key} results hold up")]
        if not _waiting(world, e):
            found.append(("/review", f"request {key} results"))
        return found
    if e.status is Status.APPROVED:
        return [("/exp", f"schedule {key} go")]
    return [("/exp", f"ship {key}")]


def _waiting(world: World, e: Experiment) -> bool:
    """Whether the latest review of ``e`` is open and still waiting on a reviewer."""
    with world.db.read() as uow:
        review = uow.reviews.latest(e.id)
    return (
        review is not None
        and review.open
        and any(a.verdict.value == "pending" for a in review.assignments)
    )


def _progress(world: World, e: Experiment) -> tuple[str, int]:
    with world.db.read() as uow:
        now = uow.experiments.require(TEAM, e.number)
        return now.status.value, len(uow.audit.for_experiment(now))


def push_forward(world: World, number: int) -> str | None:
    """Drive experiment ``number`` to a final state; None, or why it could not get there.

    Moves that change something but not the status (a review asked again of the same
    reviewer) count as stalling: after STALL rounds the admin adds the helpers, after
    STALL more it is a dead end.
    """
    helped = False
    stalled = 0
    status = None
    with world.db.read() as uow:
        if uow.experiments.require(TEAM, number).status in FINAL:
            return None  # finished (or abandoned) before anyone helped
    for _ in range(MAX_ROUNDS):
        with world.db.read() as uow:
            e = uow.experiments.require(TEAM, number)
        if e.status in FINAL:
            return None if e.status is not Status.ABANDONED else f"{e.key} ended abandoned"
        stalled = stalled + 1 if e.status is status else 0
        status = e.status
        moved = _one_move(world, e, _progress(world, e))
        if not moved or stalled >= STALL:
            if helped:
                shown = world.look(ADMINS[0], "/exp", f"show {e.key}")
                return f"dead end: nobody moves {e.key} on from {e.status}.\n{shown}"
            helped, stalled = True, 0
            for helper, role in zip(HELPERS, HELPER_ROLES, strict=True):
                world.say(ADMINS[0], "/mlgov", f"member add <@{helper}> {role} {e.project}")
    return f"EXP-{number} is not final after {MAX_ROUNDS} rounds of everyone helping"


def _one_move(world: World, e: Experiment, before: tuple[str, int]) -> bool:
    for command, text in moves(world, e):
        for who in (e.owner_id, *PEOPLE, *HELPERS):
            reply = world.say(who, command, text)
            if not reply.failed and _progress(world, e) != before:
                return True
    return False

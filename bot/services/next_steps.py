"""What can happen next to an experiment, and who may do it (``/exp show`` "Next steps").

Read from the same rules the services enforce: the lifecycle's movers
(``lifecycle.may_move``), the first principle (``lifecycle.missing_before_start``), the
design gate, and the open review's reviewers. People are the project's current members
(workspace-wide roles count); admins count only where a rule lets them act. Abandon is
always open to the owner and managers, so it is never listed: a step forward is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.domain import lifecycle
from bot.domain.lifecycle import Mover
from bot.domain.model import Actor, Experiment, Role, Status
from bot.domain.review import ReviewKind, design_gate
from storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class NextStep:
    """One step forward, who may take it now, and a short why or how."""

    step: str  # e.g. "edit", "start", "analyze", "conclude", "review", "schedule", "ship"
    who: tuple[str, ...]  # Slack user ids of current people who may take it (sorted, unique)
    note: str = ""


def _who(people: Iterable[Actor], may: Callable[[Actor], bool]) -> tuple[str, ...]:
    return tuple(sorted({a.user_id for a in people if may(a)}))


def next_steps(uow: UnitOfWork, experiment: Experiment) -> list[NextStep]:
    """Every step forward from ``experiment``'s status other than abandon, with who may
    take it; empty for a final state."""
    e = experiment
    if e.status in lifecycle.FINAL:
        return []
    people = [
        m.as_actor() for m in uow.members.all_in(e.team_id) if m.as_actor().on_project(e.project)
    ]

    def movers(mover: Mover) -> tuple[str, ...]:
        return _who(people, lambda a: lifecycle.may_move(a, e, mover))

    def reviewers(kind: ReviewKind) -> tuple[str, ...]:
        review = uow.reviews.latest(e.id, kind)
        if review is None or not review.open:
            return ()
        pending = set(review.pending())
        return _who(
            people,
            lambda a: (
                a.user_id in pending
                and a.user_id != e.owner_id
                and a.has(Role.SCIENTIST, e.project)
            ),
        )

    science = movers(Mover.SCIENCE)
    if e.status is Status.PROPOSED:
        missing = lifecycle.missing_before_start(e)
        if missing:
            return [NextStep("edit", science, f"write {' and '.join(missing)} first")]
        project = uow.projects.require(e.team_id, e.project)
        design = uow.reviews.latest(e.id, ReviewKind.DESIGN)
        if design_gate(project.rules.design_review, design, e.owner_id, project.rules.quorum):
            asked = reviewers(ReviewKind.DESIGN)
            if asked:
                return [NextStep("review", asked, "the design review must approve first")]
            return [
                NextStep(
                    "request a design review",
                    science,
                    "the project requires an approved design before start",
                )
            ]
        return [NextStep("start", science)]
    if e.status is Status.RUNNING:
        return [NextStep("analyze", science), NextStep("conclude", science)]
    if e.status is Status.ANALYZING:
        return [NextStep("conclude", science)]
    if e.status is Status.IN_REVIEW:
        asked = reviewers(ReviewKind.RESULTS)
        if asked:
            return [NextStep("review", asked, "approve or request changes")]
        managers = _who(people, lambda a: a.has(Role.MANAGER, e.project))
        return [NextStep("assign a reviewer", managers, "nobody is asked to review it now")]
    engineering = movers(Mover.ENGINEERING)
    if e.status is Status.APPROVED:
        return [NextStep("schedule", engineering)]
    return [NextStep("ship", engineering)]  # scheduled

"""Peer review and the engineering gate (SPEC §3): pure rules over plain values.

A review asks ``quorum`` distinct scientists other than the owner to approve the design
(before start) or the results (after conclude). Approvals count only for the conclusion
and evaluation they saw: newer results dismiss them. The gate that lets engineering
schedule an experiment is one function returning every unmet condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from bot.domain.model import Experiment, Outcome, Status

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReviewKind(StrEnum):
    DESIGN = "design"
    RESULTS = "results"


class Verdict(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CHANGES = "changes_requested"
    DECLINED = "declined"
    REPLACED = "replaced"  # silent too long; someone else took over


@dataclass(frozen=True)
class Assignment:
    reviewer: str
    assigned_at: datetime
    verdict: Verdict = Verdict.PENDING
    decided_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """A reviewer's approve or request-changes, and what it was about."""

    reviewer: str
    approve: bool
    at: datetime
    conclusion: int  # the experiment's conclusion number the reviewer saw
    evaluation: int | None  # the evaluation the reviewer saw (None: none yet)
    dismissed: bool = False  # newer results came after it
    text: str = ""


@dataclass(frozen=True)
class Review:
    id: int
    experiment_id: int
    kind: ReviewKind
    requested_by: str
    requested_at: datetime
    open: bool
    decisions: tuple[Decision, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    # Since when nobody eligible could be found to take the review (or to reach its
    # quorum): the reviewers stay, the managers were told, it shows as "needs a reviewer".
    needs_reviewer_since: datetime | None = None

    @property
    def needs_reviewer(self) -> bool:
        return self.needs_reviewer_since is not None

    def pending(self) -> list[str]:
        """Assigned reviewers who have not answered, in assignment order."""
        return [a.reviewer for a in self.assignments if a.verdict is Verdict.PENDING]

    def short_of(self, owner: str, quorum: int) -> int:
        """How many more reviewers the quorum needs beyond standing approvals and those
        still asked (0: enough people are on it)."""
        return max(0, quorum - len(self.approvals(owner)) - len(self.pending()))

    def latest(self) -> dict[str, Decision]:
        """Each reviewer's latest decision (decisions are kept in the order made)."""
        return {d.reviewer: d for d in self.decisions}

    def approvals(self, owner: str) -> set[str]:
        """Distinct non-owner reviewers whose latest decision is a standing approval."""
        return {r for r, d in self.latest().items() if d.approve and not d.dismissed and r != owner}

    def open_change_requests(self) -> list[Decision]:
        return [d for d in self.latest().values() if not d.approve and not d.dismissed]

    def dismissed_approvals(self, owner: str) -> list[Decision]:
        """Approvals that newer results dismissed and their reviewers have not renewed."""
        return [
            d for d in self.latest().values() if d.approve and d.dismissed and d.reviewer != owner
        ]


# --- who reviews ----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A scientist who could review, with what makes the choice fair."""

    user_id: str
    order: int  # stable order (joining order)
    open_reviews: int = 0
    last_assigned: datetime | None = None
    away: bool = False


def select_reviewers(
    candidates: Iterable[Candidate], owner: str, count: int, exclude: Iterable[str] = ()
) -> list[str]:
    """``count`` reviewers: never the owner or someone away; fewest open reviews first,
    then least recently assigned, then the stable order. Same inputs, same choice."""
    if count <= 0:
        return []
    skip = set(exclude) | {owner}
    eligible = [c for c in candidates if c.user_id not in skip and not c.away]
    # Never assigned sorts before any assignment (False < True), then oldest first.
    eligible.sort(
        key=lambda c: (
            c.open_reviews,
            c.last_assigned is not None,
            c.last_assigned or EPOCH,
            c.order,
        )
    )
    return [c.user_id for c in eligible[:count]]


# --- the gate -------------------------------------------------------------------------


def gate(experiment: Experiment, review: Review | None, quorum: int) -> list[str]:
    """Every reason engineering may not be scheduled for ``experiment`` (empty: it may)."""
    unmet: list[str] = []
    if review is None or review.kind is not ReviewKind.RESULTS:
        unmet.append(
            f"no results review has been requested (`/review request {experiment.key} results`)"
        )
    else:
        approvals = review.approvals(experiment.owner_id)
        if len(approvals) < quorum:
            unmet.append(
                f"{len(approvals)} of {quorum} approvals from scientists other than the owner"
            )
        changes = review.open_change_requests()
        if changes:
            who = ", ".join(f"<@{d.reviewer}>" for d in changes)
            unmet.append(f"an open change request ({who}): conclude again and re-request")
        dismissed = review.dismissed_approvals(experiment.owner_id)
        if dismissed:
            who = ", ".join(sorted({f"<@{d.reviewer}>" for d in dismissed}))
            unmet.append(f"approval(s) dismissed by newer results ({who}): they must review again")
    if experiment.outcome is not Outcome.SUCCESS:
        outcome = experiment.outcome.value if experiment.outcome else "not concluded"
        unmet.append(f"the outcome is {outcome}, not success")
    if experiment.status is not Status.APPROVED:
        unmet.append(f"{experiment.key} is {experiment.status}, not approved")
    return unmet


def design_gate(rule: str, review: Review | None, owner: str, quorum: int) -> list[str]:
    """What keeps an experiment from starting under ``design_review=required``."""
    if rule != "required":
        return []
    if review is None:
        return [
            "the project requires an approved design review first (`/review request EXP-n design`)"
        ]
    unmet = []
    approvals = review.approvals(owner)
    if len(approvals) < quorum:
        unmet.append(f"the design review has {len(approvals)} of {quorum} approvals")
    if review.open_change_requests():
        unmet.append("the design review has an open change request")
    return unmet


# --- working days ---------------------------------------------------------------------


# Working days after a request when its reviewers are reminded (SPEC §3); the personal
# calendar feed shows a review as due then.
REMIND_AFTER = 2


def add_working_days(day: date, days: int) -> date:
    """The day ``days`` Monday-to-Friday days after ``day``."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Monday-to-Friday days after ``start`` up to and including ``end``."""
    if end <= start:
        return 0
    days = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days += 1
    return days


def decisions_after(
    decisions: Sequence[Decision], conclusion: int, evaluation: int | None
) -> tuple[Decision, ...]:
    """``decisions`` with approvals about older results marked dismissed."""
    return tuple(
        d
        if not d.approve or (d.conclusion == conclusion and d.evaluation == evaluation)
        else Decision(d.reviewer, d.approve, d.at, d.conclusion, d.evaluation, True, d.text)
        for d in decisions
    )

"""Peer review and the engineering gate (SPEC §3), checked against the SPEC's own words.

Expected results are derived here from the SPEC, not from bot/domain/review.py: the gate's
conditions are written out as a table, reviewer choice is checked against a brute-force
ranking, and working days against numpy's business-day calendar.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.model import Experiment, Outcome, Status, Workstream
from bot.domain.review import (
    Candidate,
    Decision,
    Review,
    ReviewKind,
    decisions_after,
    design_gate,
    gate,
    select_reviewers,
    working_days_between,
)

MODEST = settings(max_examples=200, deadline=None)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
OWNER = "UOWNER"
CONCLUSION, EVALUATION = 2, 7  # the results the experiment shows now
OLDER_CONCLUSION = 1


# --- building reviews ------------------------------------------------------------------


def experiment(
    status: Status = Status.APPROVED, outcome: Outcome | None = Outcome.SUCCESS
) -> Experiment:
    """EXP-7 of project churn, owned by OWNER."""
    return Experiment(
        id=7,
        team_id="T1",
        number=7,
        project="churn",
        title="Calibrated churn model",
        hypothesis="Isotonic calibration lifts AUC",
        owner_id=OWNER,
        workstream=Workstream.MAIN,
        criterion=None,
        status=status,
        outcome=outcome,
        learnings="",
        version=3,
        created_at=AT,
        updated_at=AT,
    )


def history(*steps: tuple[str, str]) -> tuple[Decision, ...]:
    """Decisions in the order given, a minute apart: (reviewer, approve|changes|stale).

    ``stale`` is an approval of an older conclusion that newer results dismissed.
    """
    decisions = []
    for minute, (reviewer, action) in enumerate(steps):
        stale = action == "stale"
        decisions.append(
            Decision(
                reviewer=reviewer,
                approve=action != "changes",
                at=AT + timedelta(minutes=minute),
                conclusion=OLDER_CONCLUSION if stale else CONCLUSION,
                evaluation=EVALUATION,
                dismissed=stale,
                text="please add a held-out check" if action == "changes" else "",
            )
        )
    return tuple(decisions)


def review(kind: ReviewKind, decisions: Sequence[Decision] = ()) -> Review:
    return Review(
        id=1,
        experiment_id=7,
        kind=kind,
        requested_by=OWNER,
        requested_at=AT,
        open=True,
        decisions=tuple(decisions),
    )


# --- the gate over its whole truth table -----------------------------------------------

# One pattern per SPEC §3 condition (plus the status the lifecycle needs); every message the
# gate returns must match exactly one of them.
SIGNS = {
    "review": re.compile(r"\bresults review\b"),
    "quorum": re.compile(r"\b(\d+) of (\d+) approvals\b"),
    "changes": re.compile(r"\bchange request"),
    "dismissed": re.compile(r"\bdismissed\b"),
    "outcome": re.compile(r"\boutcome\b"),
    "status": re.compile(r"\bnot approved\b"),
}
CRITIC, STALE = "UCRITIC", "USTALE"


@dataclass(frozen=True)
class Case:
    """One row of the truth table: what the review holds and where the experiment is."""

    quorum: int
    kind: ReviewKind | None  # None: no review was requested
    standing: int  # distinct non-owner reviewers whose latest decision approves
    approver_style: str  # once | twice (counts once) | changed_mind (changes, then approve)
    owner_approves: bool  # the owner's approval must never count
    change: str | None  # None | plain | after_approving (approve, then request changes)
    dismissed: bool  # someone's only approval was about older results
    outcome: Outcome | None
    status: Status

    def review(self) -> Review | None:
        if self.kind is None:
            return None
        approvers = [f"UPEER{i}" for i in range(self.standing)]
        steps: list[tuple[str, str]] = [(OWNER, "approve")] if self.owner_approves else []
        # Each reviewer's decisions are interleaved with others', so "latest per reviewer"
        # cannot be mistaken for "last in the list".
        if self.approver_style == "twice":
            steps += [(r, "approve") for r in approvers] * 2
        elif self.approver_style == "changed_mind":
            steps += [(r, "changes") for r in approvers] + [(r, "approve") for r in approvers]
        else:
            steps += [(r, "approve") for r in approvers]
        if self.change == "plain":
            steps.append((CRITIC, "changes"))
        elif self.change == "after_approving":
            steps.insert(0, (CRITIC, "approve"))
            steps.append((CRITIC, "changes"))
        if self.dismissed:
            steps.insert(0, (STALE, "stale"))
        if self.owner_approves:
            steps.append((OWNER, "approve"))
        return review(self.kind, history(*steps))

    def unmet(self) -> set[str]:
        """The conditions SPEC §3 says are not met (a missing review covers its contents)."""
        unmet = set()
        if self.kind is not ReviewKind.RESULTS:
            unmet.add("review")
        else:
            if self.standing < self.quorum:
                unmet.add("quorum")
            if self.change:
                unmet.add("changes")
            if self.dismissed:
                unmet.add("dismissed")
        if self.outcome is not Outcome.SUCCESS:
            unmet.add("outcome")
        if self.status is not Status.APPROVED:
            unmet.add("status")
        return unmet


def truth_table(quorum: int) -> Iterator[Case]:
    """Every combination, without repeating rows that differ only inside a missing review."""
    counts = sorted({0, quorum - 1, quorum, quorum + 1})
    outcomes = [*Outcome, None]
    yield from (
        Case(quorum, None, 0, "once", False, None, False, outcome, status)
        for outcome, status in itertools.product(outcomes, Status)
    )
    for kind, standing, style, owner, change, dismissed, outcome, status in itertools.product(
        ReviewKind,
        counts,
        ["once", "twice", "changed_mind"],
        [False, True],
        [None, "plain", "after_approving"],
        [False, True],
        outcomes,
        Status,
    ):
        yield Case(quorum, kind, standing, style, owner, change, dismissed, outcome, status)


def conditions_named(messages: list[str]) -> list[str]:
    """Which condition each message is about; a message matching none or two is a failure."""
    named = []
    for message in messages:
        tags = [tag for tag, sign in SIGNS.items() if sign.search(message)]
        assert len(tags) == 1, f"message about {tags or 'nothing known'}: {message!r}"
        named.append(tags[0])
    return named


@pytest.mark.parametrize("quorum", [1, 2, 3])
def test_gate_lists_exactly_the_unmet_conditions(quorum: int) -> None:
    wrong = []
    for case in truth_table(quorum):
        messages = gate(experiment(case.status, case.outcome), case.review(), quorum)
        named = conditions_named(messages)
        unmet = case.unmet()
        # Whether a wrong status is also listed when other conditions fail is left to
        # test_gate_reports_a_wrong_status_alongside_other_conditions; alone, it must be.
        allowed = [unmet, unmet - {"status"}] if len(unmet) > 1 else [unmet]
        if sorted(named) not in [sorted(tags) for tags in allowed]:
            wrong.append((case, messages))
            continue
        for message, tag in zip(messages, named, strict=True):
            if tag == "quorum":
                numbers = SIGNS["quorum"].search(message)
                assert numbers is not None
                if (int(numbers[1]), int(numbers[2])) != (case.standing, quorum):
                    wrong.append((case, messages))
            if tag == "changes" and f"<@{CRITIC}>" not in message:
                wrong.append((case, messages))
            if tag == "dismissed" and f"<@{STALE}>" not in message:
                wrong.append((case, messages))
    assert not wrong, f"{len(wrong)} rows wrong, e.g. {wrong[:3]}"


def test_gate_reports_a_wrong_status_alongside_other_conditions() -> None:
    messages = gate(experiment(Status.ABANDONED, None), None, 2)
    assert sorted(conditions_named(messages)) == ["outcome", "review", "status"]
    assert any("abandoned" in message for message in messages)


def test_two_non_owner_approvals_open_the_gate_and_a_change_request_closes_it() -> None:
    approved = history(("UANA", "approve"), ("UBEN", "approve"))
    assert gate(experiment(), review(ReviewKind.RESULTS, approved), 2) == []
    challenged = history(("UANA", "approve"), ("UBEN", "approve"), ("UCAT", "changes"))
    assert conditions_named(gate(experiment(), review(ReviewKind.RESULTS, challenged), 2)) == [
        "changes"
    ]


@pytest.mark.parametrize(
    ("conclusion", "evaluation"),
    [(CONCLUSION + 1, EVALUATION), (CONCLUSION, EVALUATION + 1)],
    ids=["new-conclusion", "new-evaluation"],
)
def test_newer_results_close_the_gate_again(conclusion: int, evaluation: int) -> None:
    seen_before = history(("UANA", "approve"), ("UBEN", "approve"))
    after_new_results = decisions_after(seen_before, conclusion, evaluation)
    messages = gate(experiment(), review(ReviewKind.RESULTS, after_new_results), 2)
    assert sorted(conditions_named(messages)) == ["dismissed", "quorum"]
    assert "0 of 2 approvals" in " ".join(messages)


def test_reviewers_who_approve_the_new_results_reopen_the_gate() -> None:
    seen_before = history(("UANA", "approve"), ("UBEN", "approve"))
    after_new_results = decisions_after(seen_before, CONCLUSION, EVALUATION + 1)
    again = tuple(
        replace(d, at=d.at + timedelta(hours=1), evaluation=EVALUATION + 1) for d in seen_before
    )
    assert gate(experiment(), review(ReviewKind.RESULTS, after_new_results + again), 2) == []


# --- dismissing approvals when the results change --------------------------------------


def decision(reviewer: str, approve: bool, conclusion: int, evaluation: int | None) -> Decision:
    return Decision(reviewer, approve, AT, conclusion, evaluation, text=f"by {reviewer}")


def test_approvals_of_older_results_are_dismissed_and_the_rest_stay() -> None:
    before = (
        decision("UCURRENT", True, CONCLUSION, EVALUATION),
        decision("UOLDCONCL", True, OLDER_CONCLUSION, EVALUATION),
        decision("UOLDEVAL", True, CONCLUSION, EVALUATION - 1),
        decision("UNOEVAL", True, CONCLUSION, None),
        decision("UOLDCHANGES", False, OLDER_CONCLUSION, EVALUATION - 1),
        decision("UCHANGES", False, CONCLUSION, EVALUATION),
    )
    after = decisions_after(before, CONCLUSION, EVALUATION)
    dismissed = {d.reviewer for d in after if d.dismissed}
    assert dismissed == {"UOLDCONCL", "UOLDEVAL", "UNOEVAL"}
    # Nothing else about a decision changes, and the order is kept.
    assert [replace(d, dismissed=False) for d in after] == list(before)


def test_an_approval_without_evaluation_stands_while_there_is_none() -> None:
    before = (decision("UANA", True, CONCLUSION, None),)
    assert decisions_after(before, CONCLUSION, None) == before
    assert decisions_after(before, CONCLUSION, 1)[0].dismissed


def test_change_requests_are_never_dismissed_by_new_results() -> None:
    before = (
        decision("UANA", False, OLDER_CONCLUSION, None),
        decision("UBEN", False, CONCLUSION, EVALUATION - 1),
    )
    assert decisions_after(before, CONCLUSION + 1, EVALUATION + 3) == before


decisions_strategy = st.lists(
    st.builds(
        Decision,
        reviewer=st.sampled_from(["UANA", "UBEN", "UCAT"]),
        approve=st.booleans(),
        at=st.just(AT),
        conclusion=st.integers(1, 3),
        evaluation=st.none() | st.integers(1, 3),
        dismissed=st.booleans(),
    ),
    max_size=8,
)


@MODEST
@given(
    decisions=decisions_strategy,
    conclusion=st.integers(1, 3),
    evaluation=st.none() | st.integers(1, 3),
)
def test_dismissal_marks_exactly_the_approvals_of_other_results(
    decisions: list[Decision], conclusion: int, evaluation: int | None
) -> None:
    after = decisions_after(decisions, conclusion, evaluation)
    assert len(after) == len(decisions)
    for old, new in zip(decisions, after, strict=True):
        about_other_results = (old.conclusion, old.evaluation) != (conclusion, evaluation)
        assert new.dismissed == (old.dismissed or (old.approve and about_other_results))
        assert replace(new, dismissed=old.dismissed) == old
    assert decisions_after(after, conclusion, evaluation) == after  # applying twice = once


# --- who reviews -----------------------------------------------------------------------

YESTERDAY, LAST_WEEK, LAST_MONTH = (AT - timedelta(days=d) for d in (1, 7, 30))


def person(user: str, order: int, open_reviews: int = 0, last: datetime | None = None) -> Candidate:
    return Candidate(user, order, open_reviews=open_reviews, last_assigned=last)


def test_fewest_open_reviews_come_first_even_before_the_never_assigned() -> None:
    pool = [person("UBUSY", 0, open_reviews=1), person("UFREE", 1, open_reviews=0, last=YESTERDAY)]
    assert select_reviewers(pool, OWNER, 1) == ["UFREE"]


def test_never_assigned_then_least_recently_assigned_then_joining_order() -> None:
    pool = [
        person("URECENT", 0, last=YESTERDAY),
        person("UOLDER", 1, last=LAST_MONTH),
        person("ULATER", 5),
        person("UNEVER", 2),
        person("UMIDDLE", 3, last=LAST_WEEK),
    ]
    assert select_reviewers(pool, OWNER, 5) == ["UNEVER", "ULATER", "UOLDER", "UMIDDLE", "URECENT"]


def test_never_the_owner_someone_away_or_someone_excluded() -> None:
    pool = [
        person(OWNER, 0),
        replace(person("UAWAY", 1), away=True),
        person("UDECLINED", 2),
        person("UBUSY", 3, open_reviews=4),
    ]
    assert select_reviewers(pool, OWNER, 2, exclude=["UDECLINED"]) == ["UBUSY"]


def test_fewer_reviewers_when_not_enough_are_eligible() -> None:
    assert select_reviewers([person(OWNER, 0)], OWNER, 2) == []
    assert select_reviewers([], OWNER, 2) == []


def test_a_negative_count_picks_nobody() -> None:
    pool = [person("UANA", 0), person("UBEN", 1), person("UCAT", 2)]
    try:
        chosen = select_reviewers(pool, OWNER, -1)
    except ValueError:
        return
    assert chosen == []


def precedes(a: Candidate, b: Candidate) -> bool:
    """Whether ``a`` is picked before ``b``, by SPEC §3's order read literally."""
    if a.open_reviews != b.open_reviews:
        return a.open_reviews < b.open_reviews
    if (a.last_assigned is None) != (b.last_assigned is None):
        return a.last_assigned is None  # never assigned comes first
    if a.last_assigned is not None and b.last_assigned is not None:
        if a.last_assigned != b.last_assigned:
            return a.last_assigned < b.last_assigned
    return a.order < b.order


def brute_force_choice(
    pool: Sequence[Candidate], owner: str, count: int, exclude: Sequence[str]
) -> set[str]:
    """The ``count`` best eligible candidates: those fewer than ``count`` others beat."""
    eligible = [c for c in pool if c.user_id != owner and c.user_id not in exclude and not c.away]
    return {c.user_id for c in eligible if sum(precedes(other, c) for other in eligible) < count}


USERS = [f"U{i:02d}" for i in range(10)]


@st.composite
def pools(draw: st.DrawFn) -> list[Candidate]:
    """Scientists with distinct ids and joining orders, and ties in everything else."""
    users = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=8))
    orders = draw(st.permutations(range(len(users))))
    return [
        Candidate(
            user,
            order,
            open_reviews=draw(st.integers(0, 2)),
            last_assigned=draw(st.sampled_from([None, YESTERDAY, LAST_WEEK, LAST_MONTH])),
            away=draw(st.booleans()),
        )
        for user, order in zip(users, orders, strict=True)
    ]


@MODEST
@given(
    pool=pools(),
    owner=st.sampled_from(USERS),
    count=st.integers(0, 5),
    exclude=st.lists(st.sampled_from(USERS), max_size=3),
    shuffler=st.randoms(use_true_random=False),
)
def test_selection_is_the_best_eligible_by_spec_order_whatever_the_input_order(
    pool: list[Candidate],
    owner: str,
    count: int,
    exclude: list[str],
    shuffler: random.Random,
) -> None:
    chosen = select_reviewers(pool, owner, count, exclude)
    assert len(chosen) == len(set(chosen))
    assert set(chosen) == brute_force_choice(pool, owner, count, exclude)
    eligible = sum(c.user_id != owner and c.user_id not in exclude and not c.away for c in pool)
    assert len(chosen) == min(count, eligible)
    shuffled = list(pool)
    shuffler.shuffle(shuffled)
    assert select_reviewers(shuffled, owner, count, list(reversed(exclude))) == chosen


# --- design review before start --------------------------------------------------------


@pytest.mark.parametrize("rule", ["off", "optional"])
@pytest.mark.parametrize(
    "design",
    [
        None,
        review(ReviewKind.DESIGN),
        review(ReviewKind.DESIGN, history(("UCRITIC", "changes"))),
        review(ReviewKind.DESIGN, history((OWNER, "approve"))),
    ],
    ids=["none", "no-approvals", "change-request", "owner-only"],
)
def test_design_review_off_or_optional_never_blocks(rule: str, design: Review | None) -> None:
    assert design_gate(rule, design, OWNER, 2) == []


def test_required_design_review_that_is_missing_is_reported() -> None:
    messages = design_gate("required", None, OWNER, 2)
    assert len(messages) == 1
    assert "design review" in messages[0]


@pytest.mark.parametrize("quorum", [1, 2, 3])
def test_required_design_review_reports_each_unmet_condition(quorum: int) -> None:
    for standing, owner_approves, twice, change in itertools.product(
        range(quorum + 2), [False, True], [False, True], [False, True]
    ):
        approvers = [(f"UPEER{i}", "approve") for i in range(standing)] * (2 if twice else 1)
        steps = [(OWNER, "approve")] * owner_approves + approvers
        if change:
            steps += [("UCRITIC", "approve"), ("UCRITIC", "changes")]
        messages = design_gate(
            "required", review(ReviewKind.DESIGN, history(*steps)), OWNER, quorum
        )
        few = standing < quorum
        case = (quorum, standing, owner_approves, twice, change, messages)
        assert len(messages) == few + change, case
        assert any(f"{standing} of {quorum} approvals" in m for m in messages) == few, case
        assert any("change request" in m for m in messages) == change, case


# --- working days ----------------------------------------------------------------------

MON, WED, THU, FRI, SAT, SUN = (date(2026, 3, d) for d in (2, 4, 5, 6, 7, 8))
NEXT_MON, NEXT_TUE = date(2026, 3, 9), date(2026, 3, 10)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (FRI, NEXT_MON, 1),
        (SAT, NEXT_MON, 1),
        (SUN, NEXT_MON, 1),
        (MON, WED, 2),
        (MON, MON, 0),
        (WED, MON, 0),
        (FRI, SAT, 0),
        (FRI, SUN, 0),
        (THU, NEXT_MON, 2),  # a review asked on Thursday is due a reminder on Monday
        (FRI, NEXT_TUE, 2),
        (MON, NEXT_MON, 5),
    ],
)
def test_working_days_skip_weekends(start: date, end: date, days: int) -> None:
    assert working_days_between(start, end) == days


@MODEST
@given(
    start=st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    span=st.integers(-30, 800),
)
def test_working_days_agree_with_numpy_business_days(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    # numpy counts weekdays in [begin, end); ours counts the days after ``start`` up to and
    # including ``end``, i.e. (start, end]. Moving both bounds a day later turns one into the
    # other. For end <= start numpy gives zero or a negative count; nothing has waited, so 0.
    one = np.timedelta64(1, "D")
    begin_np, end_np = np.datetime64(start, "D") + one, np.datetime64(end, "D") + one
    expected = max(0, int(np.busday_count(begin_np, end_np)))
    assert working_days_between(start, end) == expected


# --- how many more reviewers a review needs (issue 10, item 5) --------------------------


def test_short_of_counts_standing_approvals_and_reviewers_still_asked() -> None:
    from bot.domain.review import Assignment, Verdict

    def review(*assignments: tuple[str, Verdict], approvals: Sequence[str] = ()) -> Review:
        return Review(
            1,
            7,
            ReviewKind.RESULTS,
            OWNER,
            AT,
            True,
            decisions=tuple(Decision(r, True, AT, CONCLUSION, EVALUATION) for r in approvals),
            assignments=tuple(Assignment(r, AT, v) for r, v in assignments),
        )

    assert review().short_of(OWNER, 2) == 2  # nobody asked
    assert review(("UBOB", Verdict.PENDING)).short_of(OWNER, 2) == 1
    declined = review(("UBOB", Verdict.DECLINED), ("UCAROL", Verdict.PENDING))
    assert declined.short_of(OWNER, 2) == 1 and declined.pending() == ["UCAROL"]
    approved = review(("UBOB", Verdict.APPROVED), ("UCAROL", Verdict.PENDING), approvals=["UBOB"])
    assert approved.short_of(OWNER, 2) == 0
    # The owner's own approval never counts.
    assert review(approvals=[OWNER]).short_of(OWNER, 1) == 1
    assert not review().needs_reviewer and replace(review(), needs_reviewer_since=AT).needs_reviewer

"""Peer review use cases on SQLite and PostgreSQL, with a clock moved by hand (SPEC §3).

Reminders, replacements and escalations across a weekend in the team's time zone
(Europe/Berlin), hand-offs by the selection rule, the design-review rule on `start`, and
the gate for outcomes that close instead of being approved. Messages are rendered by the
real Slack notices, so the tests read what people would see in the thread and their DMs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.domain.commands import NewExperiment
from bot.domain.errors import GateClosed, PermissionDenied, ValidationError
from bot.domain.model import Experiment, Outcome, OutgoingMessage, Project, Role, Status
from bot.domain.review import Decision, Review, ReviewKind
from bot.services import reviews
from bot.services import team as team_service
from bot.services.experiments import create_experiment, experiment_history, take_step
from bot.services.ports import Context
from bot.services.rotation import record_absence
from bot.slack.notices import SlackNotices
from storage.models import ReviewAssignmentRow, ReviewDecisionRow, ReviewRow
from tests.integration.conftest import TEAM, Clock, RecordingNotices, Team

TZ = "Europe/Berlin"  # UTC+1 in March 2026 (summer time starts on the 29th)
FRIDAY_10_BERLIN = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


class ReviewNotices(RecordingNotices):
    """RecordingNotices that also records review notices, rendered as Slack would show them."""

    def __init__(self) -> None:
        super().__init__()
        self.slack = SlackNotices()

    def review_requested(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_requested", (experiment.key, list(reviewers)))
        return self.slack.review_requested(experiment, project, review, reviewers, quorum, **extra)

    def review_decided(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        decision: Decision,
        approvals: int,
        quorum: int,
        moved: Experiment | None,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_decided", (experiment.key, decision.reviewer, decision.approve))
        return self.slack.review_decided(
            experiment, project, review, decision, approvals, quorum, moved, **extra
        )

    def review_reminder(
        self, experiment: Experiment, reviewer: str, days: int, **extra: Any
    ) -> list[OutgoingMessage]:
        self._record("review_reminder", (experiment.key, reviewer, days))
        return self.slack.review_reminder(experiment, reviewer, days, **extra)

    def review_overdue(
        self, experiment: Experiment, reviewer: str, days: int, managers: list[str]
    ) -> list[OutgoingMessage]:
        self._record("review_overdue", (experiment.key, reviewer, days, sorted(managers)))
        return self.slack.review_overdue(experiment, reviewer, days, managers)

    def reviewer_changed(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        leaving: str,
        successor: str | None,
        why: str,
        reason: str,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("reviewer_changed", (experiment.key, leaving, successor, why))
        return self.slack.reviewer_changed(
            experiment, project, review, leaving, successor, why, reason, **extra
        )

    def review_reopened(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        evaluation_id: int,
        dismissed: int,
        moved: Experiment | None,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_reopened", (experiment.key, list(reviewers), dismissed))
        return self.slack.review_reopened(
            experiment, project, review, reviewers, quorum, evaluation_id, dismissed, moved, **extra
        )

    def review_needs_reviewer(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        managers: list[str],
        reason: str,
    ) -> list[OutgoingMessage]:
        self._record("review_needs_reviewer", (experiment.key, sorted(managers), reason))
        return self.slack.review_needs_reviewer(experiment, project, review, managers, reason)


@pytest.fixture
def notices() -> ReviewNotices:
    """Notices that record every call and queue the real Slack messages."""
    return ReviewNotices()


# --- helpers ---------------------------------------------------------------------------


def hire(team: Team, *names: str) -> None:
    """Make churn scientists of ``names`` (user id U<NAME>), in this joining order."""
    for name in names:
        team.run("admin", team_service.add_member, f"U{name.upper()}", Role.SCIENTIST, "churn")
    with team.db.read() as uow:
        for name in names:
            team.actors[name] = team_service.resolve_actor(uow, TEAM, f"U{name.upper()}")


def propose(team: Team, who: str = "alice", title: str = "Tenure features") -> int:
    """A proposal with what `start` needs: a hypothesis and a success criterion."""
    draft = NewExperiment("churn", title, "Tenure lifts AUC", "auc", 0.01)
    return team.run(who, create_experiment, draft).number


def in_review(team: Team, outcome: Outcome = Outcome.SUCCESS, who: str = "alice") -> int:
    """A new experiment of ``who``, started and concluded with ``outcome``."""
    number = propose(team, who)
    team.run(who, take_step, number, "start")
    team.run(who, take_step, number, "conclude", outcome=outcome, text="tenure matters")
    return number


def request(team: Team, number: int, *named: str, kind: ReviewKind | None = None) -> list[str]:
    return team.run("alice", reviews.request_review, number, kind, list(named)).reviewers


def assigned(team: Team, number: int) -> list[tuple[str, str]]:
    """(reviewer, verdict) of the experiment's latest review, in assignment order."""
    experiment = team.experiment(number)
    review = team.read(lambda uow: uow.reviews.latest(experiment.id))
    assert review is not None
    return [(a.reviewer, a.verdict.value) for a in review.assignments]


def thread(team: Team, number: int) -> list[str]:
    """The texts posted in the experiment's thread (not updates, not DMs), oldest first."""
    experiment = team.experiment(number)
    return [
        row.payload["text"]
        for row in team.outbox_rows()
        if row.experiment_id == experiment.id
        and row.method == "chat.postMessage"
        and not row.thread_root
    ]


def dms(team: Team, user: str) -> list[str]:
    return [row.payload["text"] for row in team.outbox_rows() if row.channel == user]


def review_rows(team: Team) -> tuple[int, int, int]:
    def count(row: Any) -> int:
        return team.read(
            lambda uow: int(uow.session.scalar(select(func.count()).select_from(row)) or 0)
        )

    return count(ReviewRow), count(ReviewAssignmentRow), count(ReviewDecisionRow)


def notices_of(team: Team) -> ReviewNotices:
    assert isinstance(team.notices, ReviewNotices)
    return team.notices


def remind(team: Team, at: datetime) -> list[str]:
    """The review-reminders job as the scheduler runs it, at ``at``, in Berlin time."""
    team.clock.now = at
    return reviews.run_review_reminders(team.db, notices_of(team), at, TZ)


def calls(team: Team, name: str) -> list[Any]:
    return [what for called, what in team.notices.calls if called == name]


# --- reminders across a weekend --------------------------------------------------------


@pytest.fixture
def friday_review(team: Team, clock: Clock) -> int:
    """EXP-1 of alice, with a results review assigned on Friday 10:00 Berlin time.

    Scientists, in joining order: alice (owner), bob, carol, dave, frank. mlgov picks
    bob and carol (no open reviews, never assigned, joined first)."""
    hire(team, "carol", "dave", "frank")
    clock.now = FRIDAY_10_BERLIN
    number = in_review(team)  # conclude asks the reviewers itself
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]
    team.notices.calls.clear()
    return number


def test_nobody_is_reminded_over_the_weekend_or_before_two_working_days(
    team: Team, friday_review: int
) -> None:
    for day in (7, 8, 9):  # Saturday, Sunday, Monday at 09:00 Berlin
        assert remind(team, datetime(2026, 3, day, 8, 0, tzinfo=UTC)) == []
    # Monday 23:59 Berlin is still one working day; in UTC it is Monday 22:59.
    assert remind(team, datetime(2026, 3, 9, 22, 59, tzinfo=UTC)) == []
    assert team.notices.calls == []
    assert dms(team, "UBOB")[-1].startswith("👀")  # only the request so far


def test_reminder_tuesday_replacement_wednesday_managers_thursday_each_once(
    team: Team, friday_review: int
) -> None:
    number = friday_review
    # Tuesday 00:30 in Berlin (Monday 23:30 UTC): two working days in the team's zone.
    tuesday = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    done = remind(team, tuesday)
    assert done == [
        "reminded <@UBOB> of EXP-1 (2 working days)",
        "reminded <@UCAROL> of EXP-1 (2 working days)",
    ]
    assert remind(team, tuesday.replace(hour=23, minute=45)) == []  # run twice: once
    assert "has waited on you for 2 working days" in dms(team, "UBOB")[-1]
    assert "`/review decline EXP-1`" in dms(team, "UCAROL")[-1]
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]

    wednesday = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    done = remind(team, wednesday)
    assert done == [
        "replaced <@UBOB> on EXP-1 by <@UDAVE>",
        "replaced <@UCAROL> on EXP-1 by <@UFRANK>",
    ]
    assert remind(team, wednesday) == []
    assert assigned(team, number) == [
        ("UBOB", "replaced"),
        ("UCAROL", "replaced"),
        ("UDAVE", "pending"),
        ("UFRANK", "pending"),
    ]
    posted = thread(team, number)
    assert (
        "<@UBOB> was replaced on the review of *EXP-1* (no answer in 3 working days);"
        " <@UDAVE> takes over." in posted
    )
    assert any(text.startswith("👀") and "*EXP-1*" in text for text in dms(team, "UDAVE"))
    assert len(calls(team, "review_reminder")) == 2  # nobody was reminded twice
    # The newcomers' clock starts on Wednesday: nobody nags them on Thursday.
    assert "UDAVE" not in {who for _, who, _ in calls(team, "review_reminder")}


def test_managers_are_told_on_thursday_once(team: Team, friday_review: int) -> None:
    number = friday_review
    for day in (10, 11):  # the Tuesday and Wednesday runs, as the scheduler makes them
        remind(team, datetime(2026, 3, day, 8, 0, tzinfo=UTC))
    thursday = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    done = remind(team, thursday)
    assert remind(team, thursday) == []
    told = [text for text in done if text.startswith("told")]
    assert told, done
    escalated = dms(team, "UMGR")
    assert escalated and "has waited" in escalated[-1] and "*EXP-1*" in escalated[-1]
    assert dms(team, "UBOSS")  # the workspace-wide manager manages churn too
    assert assigned(team, number)[-2:] == [("UDAVE", "pending"), ("UFRANK", "pending")]


def test_a_run_missed_until_thursday_does_every_step_once(team: Team, friday_review: int) -> None:
    thursday = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    done = remind(team, thursday)
    assert done == [
        "reminded <@UBOB> of EXP-1 (4 working days)",
        "replaced <@UBOB> on EXP-1 by <@UDAVE>",
        "told 3 manager(s) EXP-1 waits on <@UBOB>",
        "reminded <@UCAROL> of EXP-1 (4 working days)",
        "replaced <@UCAROL> on EXP-1 by <@UFRANK>",
        "told 3 manager(s) EXP-1 waits on <@UCAROL>",
    ]
    assert remind(team, thursday) == []
    assert "has waited on <@UBOB> for 4 working days" in dms(team, "UMGR")[0]


def test_reviewers_who_answered_are_not_reminded(team: Team, friday_review: int) -> None:
    number = friday_review
    team.clock.now = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    team.run("bob", reviews.decide, number, True, "")
    done = remind(team, datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    assert done == ["reminded <@UCAROL> of EXP-1 (2 working days)"]
    # Once the review reached quorum and closed, nothing more is due for anyone.
    team.run("carol", reviews.decide, number, True, "")
    assert team.experiment(number).status is Status.APPROVED
    assert remind(team, datetime(2026, 3, 13, 8, 0, tzinfo=UTC)) == []


# --- declining hands the review on ------------------------------------------------------


def test_decline_hands_over_by_workload_then_last_assignment_then_joining_order(
    team: Team, clock: Clock
) -> None:
    # Joining order: alice, bob, ivy, carol, dave, frank, gina, hank.
    hire(team, "ivy", "carol", "dave", "frank", "gina", "hank")
    team.run("ivy", record_absence, date(2026, 3, 1), date(2026, 3, 31))
    # Quorum 1 while the history is made: each named reviewer is the whole request.
    team.run("admin", team_service.set_rules, "churn", {"quorum": "1"})
    busy = propose(team, "bob", "Busy")  # dave keeps one review open
    team.run("bob", reviews.request_review, busy, ReviewKind.DESIGN, ["UDAVE"])
    earlier = propose(team, "bob", "Earlier")  # hank was last assigned at 09:00
    team.run("bob", reviews.request_review, earlier, ReviewKind.DESIGN, ["UHANK"])
    team.run("hank", reviews.decide, earlier, True, "")
    clock.advance(hours=1)
    later = propose(team, "bob", "Later")  # frank and gina at 10:00
    team.run("bob", reviews.request_review, later, ReviewKind.DESIGN, ["UFRANK", "UGINA"])
    team.run("frank", reviews.decide, later, True, "")  # 1 of 1: closes it for gina too
    clock.advance(hours=1)
    team.run("admin", team_service.set_rules, "churn", {"quorum": "2"})

    number = in_review(team)  # conclude asks the reviewers itself
    assert number == 4
    # bob and carol were never assigned and have nothing open; ivy is out of office.
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]

    handoffs = []
    for who in ("bob", "carol", "hank", "frank", "gina"):
        clock.advance(minutes=5)
        handoffs.append(team.run(who, reviews.decline, number, f"{who} is busy"))
    # hank: least recently assigned; frank before gina: joined first; then gina, who has
    # nothing open, before dave, who joined earlier; dave last; then nobody.
    assert handoffs == ["UHANK", "UFRANK", "UGINA", "UDAVE", None]

    posted = thread(team, number)
    assert "<@UBOB> declined the review of *EXP-4* (bob is busy); <@UHANK> takes over." in posted
    assert (
        "<@UGINA> declined the review of *EXP-4* (gina is busy); nobody else can take over:"
        " it needs a reviewer (the managers are told)." in posted
    )
    assert any("*EXP-4*" in text and text.startswith("👀") for text in dms(team, "UHANK"))
    assert not any("*EXP-4*" in text for text in dms(team, "UIVY"))
    assert [verdict for _, verdict in assigned(team, number)] == [
        *["declined"] * 5,
        "pending",
    ]
    _, trail = team.run("admin", experiment_history, number)
    declines = [e.detail for e in trail if e.action == "review_declined"]
    assert [(d["reviewer"], d["successor"]) for d in declines] == [
        ("UBOB", "UHANK"),
        ("UCAROL", "UFRANK"),
        ("UHANK", "UGINA"),
        ("UFRANK", "UDAVE"),
        ("UGINA", None),
    ]


def test_only_a_pending_reviewer_can_decline_and_a_refusal_writes_nothing(team: Team) -> None:
    hire(team, "carol")
    number = in_review(team)
    request(team, number)
    team.run("bob", reviews.decide, number, True, "")
    before = (review_rows(team), len(team.outbox_rows()), team.audit_count())
    for who in ("bob", "alice", "erin"):  # decided already; the owner; not assigned
        with pytest.raises(ValidationError, match="no pending review of EXP-1 to decline"):
            team.run(who, reviews.decline, number, "")
    with pytest.raises(PermissionDenied, match="not on project churn"):
        team.run("zoe", reviews.decline, number, "")
    assert (review_rows(team), len(team.outbox_rows()), team.audit_count()) == before


# --- design review rule -----------------------------------------------------------------


def test_required_design_review_blocks_start_until_quorum(team: Team) -> None:
    hire(team, "carol")
    team.run("admin", team_service.set_rules, "churn", {"design_review": "required"})
    number = propose(team)
    with pytest.raises(GateClosed) as refused:
        team.run("alice", take_step, number, "start")
    assert refused.value.unmet == (
        "the project requires an approved design review first (`/review request EXP-n design`)",
    )
    assert request(team, number) == ["UBOB", "UCAROL"]  # proposed: a design review
    assert calls(team, "review_requested") == [("EXP-1", ["UBOB", "UCAROL"])]

    team.run("bob", reviews.decide, number, False, "state the success criterion")
    with pytest.raises(GateClosed) as refused:
        team.run("alice", take_step, number, "start")
    assert refused.value.unmet == (
        "the design review has 0 of 2 approvals",
        "the design review has an open change request",
    )
    team.run("bob", reviews.decide, number, True, "criterion is there now")
    with pytest.raises(GateClosed, match="1 of 2 approvals") as refused:
        team.run("alice", take_step, number, "start")
    assert len(refused.value.unmet) == 1
    assert team.experiment(number).status is Status.PROPOSED

    team.run("carol", reviews.decide, number, True, "")
    assert team.run("alice", take_step, number, "start").after.status is Status.RUNNING


@pytest.mark.parametrize("rule", ["optional", "off"])
def test_without_the_rule_start_needs_no_design_review(team: Team, rule: str) -> None:
    team.run("admin", team_service.set_rules, "churn", {"design_review": rule})
    number = propose(team)
    if rule == "off":
        with pytest.raises(ValidationError, match="design reviews switched off"):
            request(team, number, kind=ReviewKind.DESIGN)
    assert team.run("alice", take_step, number, "start").after.status is Status.RUNNING


# --- the gate for outcomes that close -------------------------------------------------


@pytest.mark.parametrize("outcome", [Outcome.FAILURE, Outcome.INCONCLUSIVE])
def test_a_reviewed_failure_closes_and_the_gate_still_refuses(team: Team, outcome: Outcome) -> None:
    hire(team, "carol")
    number = in_review(team, outcome)
    request(team, number)
    team.run("bob", reviews.decide, number, True, "")
    decided = team.run("carol", reviews.decide, number, True, "a learning, well shown")
    assert decided.experiment.status is Status.CLOSED
    assert thread(team, number)[-1].endswith("Now closed.")
    with pytest.raises(GateClosed) as refused:
        team.run("erin", reviews.schedule_engineering, number, "sprint 12")
    assert refused.value.unmet == (
        f"the outcome is {outcome.value}, not success",
        "EXP-1 is closed, not approved",
    )
    assert team.experiment(number).status is Status.CLOSED


def test_the_gate_lists_every_unmet_condition_and_only_engineers_or_managers_schedule(
    team: Team,
) -> None:
    hire(team, "carol")
    number = in_review(team)  # conclude opened the results review
    with pytest.raises(GateClosed) as refused:
        team.run("erin", reviews.schedule_engineering, number, "")
    assert refused.value.unmet == (
        "0 of 2 approvals from scientists other than the owner",
        "EXP-1 is in_review, not approved",
    )
    team.run("bob", reviews.decide, number, True, "")
    with pytest.raises(GateClosed) as refused:
        team.run("manager", reviews.schedule_engineering, number, "")
    assert refused.value.unmet == (
        "1 of 2 approvals from scientists other than the owner",
        "EXP-1 is in_review, not approved",
    )
    team.run("carol", reviews.decide, number, True, "")
    before = team.audit_count()
    with pytest.raises(PermissionDenied):
        team.run("alice", reviews.schedule_engineering, number, "")
    assert team.audit_count() == before
    moved = team.run("erin", reviews.schedule_engineering, number, "sprint 12")
    assert (moved.before.status, moved.after.status) == (Status.APPROVED, Status.SCHEDULED)


# --- bad requests and the lists -------------------------------------------------------


def test_bad_review_requests_are_refused_and_write_nothing(team: Team) -> None:
    hire(team, "carol")
    number = propose(team)
    before = (review_rows(team), len(team.outbox_rows()), team.audit_count())
    for kind, named, message in (
        (ReviewKind.RESULTS, [], "EXP-1 is proposed: results are reviewed after"),
        (None, ["UALICE"], "The owner cannot review their own experiment."),
        (None, ["UERIN"], "<@UERIN> is not a scientist of churn."),
        (None, ["UBOB", "UZOE"], "<@UZOE> is not a scientist of churn."),
    ):
        with pytest.raises(ValidationError, match=re.escape(message)):
            team.run("alice", reviews.request_review, number, kind, named)
    with pytest.raises(PermissionDenied, match="Only the owner"):
        team.run("bob", reviews.request_review, number, None, [])
    assert (review_rows(team), len(team.outbox_rows()), team.audit_count()) == before
    # A manager may ask on the owner's behalf, and name reviewers: mlgov picks the rest
    # of the quorum by its rule.
    requested = team.run("manager", reviews.request_review, number, None, ["UCAROL", "UCAROL"])
    assert requested.reviewers == ["UCAROL", "UBOB"] and requested.review.kind is ReviewKind.DESIGN


def test_review_lists_say_who_is_waited_on_and_for_how_long(team: Team, friday_review: int) -> None:
    def listed(who: str, which: str) -> list[tuple[str, list[str], int]]:
        ctx = Context(team.actors[who], team.clock(), notices_of(team), TZ)
        found = team.read(lambda uow: reviews.list_reviews(uow, ctx, which))
        return [(e.key, waiting, age) for e, _, waiting, age in found]

    team.clock.now = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # Monday: one working day
    assert listed("bob", "mine") == [("EXP-1", ["UBOB", "UCAROL"], 1)]
    assert listed("dave", "mine") == []
    assert listed("manager", "overdue") == []
    team.run("bob", reviews.decide, friday_review, True, "")
    team.clock.now = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)  # Tuesday 00:30 in Berlin
    assert listed("manager", "overdue") == [("EXP-1", ["UCAROL"], 2)]
    assert listed("bob", "mine") == []
    assert listed("zoe", "pending") == []  # not on churn: sees nothing of it


def test_someone_out_of_office_today_in_the_team_zone_is_not_picked(team: Team) -> None:
    hire(team, "ivy", "carol")
    number = propose(team)
    team.run("alice", take_step, number, "start")
    team.run("ivy", record_absence, date(2026, 3, 9), date(2026, 3, 9))  # Monday only
    monday_0030_berlin = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    ctx = Context(team.actors["alice"], monday_0030_berlin, notices_of(team), TZ)
    with team.db.write() as uow:
        take_step(uow, ctx, number, "conclude", outcome=Outcome.SUCCESS, text="tenure helps")
        uow.commit()
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]

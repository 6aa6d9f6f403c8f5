"""Peer review without dead ends (issue 10, items 1 and 5; SPEC §2 "No dead ends", §3).

New results after an approval reopen the review; `conclude` asks reviewers itself; a
review nobody eligible can take keeps its reviewer, tells the managers once and shows
as "needs a reviewer"; the quorum is one the project can reach.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.domain.commands import RemoveMember
from bot.domain.errors import GateClosed, InvalidTransition, ValidationError
from bot.domain.evaluation import Kind, ScalarMetrics
from bot.domain.model import Outcome, Role, Status
from bot.domain.review import ReviewKind
from bot.services import reviews
from bot.services import team as team_service
from bot.services.evaluations import Submission, submit_evaluation
from bot.services.experiments import experiment_history, take_step
from bot.services.home import build_home
from bot.services.ports import Context
from bot.slack.blocks import reviews as review_render
from bot.slack.handlers import team as team_handlers
from tests.integration import test_review_services as shared
from tests.integration.conftest import TEAM, Team
from tests.integration.test_review_services import (
    TZ,
    assigned,
    calls,
    dms,
    hire,
    in_review,
    notices_of,
    propose,
    remind,
    thread,
)

notices = shared.notices  # the review tests' notices: real Slack texts, recorded calls
WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
MONDAY_AFTER = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # 5 working days after WEDNESDAY


def push(team: Team, number: int, auc: float = 0.91, who: str = "alice") -> int:
    """A pipeline's new evaluation of experiment ``number``; its id."""
    recorded = submit_evaluation(
        team.db,
        team.ctx(who),
        Submission(number, ScalarMetrics(Kind.CLASSIFICATION, {"auc": auc}), "cli", "cand.csv"),
    )
    assert recorded is not None
    return recorded.evaluation_id


def approved(team: Team) -> int:
    """alice's EXP-1, concluded (conclude asks bob and carol) and approved by both."""
    hire(team, "carol")
    number = in_review(team)
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]
    team.run("bob", reviews.decide, number, True, "")
    team.run("carol", reviews.decide, number, True, "")
    assert team.experiment(number).status is Status.APPROVED
    return number


def state_changes(team: Team, number: int) -> list[tuple[str, str | None, str | None]]:
    _, trail = team.run("admin", experiment_history, number)
    return [(e.action, e.from_status, e.to_status) for e in trail if e.to_status is not None]


def listed(team: Team, who: str, which: str = "pending") -> list[str]:
    ctx = Context(team.actors[who], team.clock(), notices_of(team), TZ)
    found = team.read(lambda uow: reviews.list_reviews(uow, ctx, which))
    reply = review_render.pending(found, which)
    return [b["text"]["text"] for b in reply.blocks[1:] if b["type"] == "section"]


# --- item 1: new results after an approval ---------------------------------------------


def test_new_results_after_approval_reopen_the_review_and_the_gate_opens_again(
    team: Team,
) -> None:
    number = approved(team)
    team.clock.advance(hours=1)
    evaluation = push(team, number)

    e = team.experiment(number)
    assert e.status is Status.IN_REVIEW
    assert state_changes(team, number)[-1] == ("reopen_review", "approved", "in_review")
    assert [c for c in state_changes(team, number) if c[0] == "reopen_review"] == [
        ("reopen_review", "approved", "in_review")
    ]
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert review is not None and review.pending() == ["UBOB", "UCAROL"]
    assert (
        f"🔁 New results (evaluation #{evaluation}) dismissed 2 approvals; review reopened"
        in "\n".join(thread(team, number))
    )
    for who in ("UBOB", "UCAROL"):
        assert "please review again" in dms(team, who)[-1]
    # The gate refuses until both approve the new results, then opens.
    with pytest.raises(GateClosed, match="cannot be scheduled"):
        team.run("erin", reviews.schedule_engineering, number, "")
    team.run("bob", reviews.decide, number, True, "still good")
    team.run("carol", reviews.decide, number, True, "")
    assert team.experiment(number).status is Status.APPROVED
    moved = team.run("erin", reviews.schedule_engineering, number, "sprint 13")
    assert moved.after.status is Status.SCHEDULED


def test_new_results_on_a_scheduled_experiment_send_it_back_to_review(team: Team) -> None:
    number = approved(team)
    team.run("erin", reviews.schedule_engineering, number, "sprint 12")
    push(team, number, auc=0.88)
    assert team.experiment(number).status is Status.IN_REVIEW
    assert state_changes(team, number)[-1] == ("reopen_review", "scheduled", "in_review")
    with pytest.raises(InvalidTransition):
        team.run("erin", reviews.ship, number)  # what ships must be what was approved


def test_new_results_during_review_ask_the_approver_again_without_a_state_change(
    team: Team,
) -> None:
    hire(team, "carol")
    number = in_review(team)
    team.run("bob", reviews.decide, number, True, "")
    before = state_changes(team, number)
    push(team, number)
    assert state_changes(team, number) == before
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]
    assert "please review again" in dms(team, "UBOB")[-1]
    assert calls(team, "review_reopened")[-1] == ("EXP-1", ["UBOB", "UCAROL"], 1)


def test_results_before_any_approval_change_no_review(team: Team) -> None:
    hire(team, "carol")
    number = in_review(team)
    review_before = assigned(team, number)
    push(team, number)
    assert assigned(team, number) == review_before
    assert calls(team, "review_reopened") == []


# --- item 5: conclude opens the review ------------------------------------------------


def test_conclude_opens_the_results_review_and_asks_reviewers(team: Team) -> None:
    hire(team, "carol")
    number = in_review(team)
    e = team.experiment(number)
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert review is not None and review.kind is ReviewKind.RESULTS
    assert review.pending() == ["UBOB", "UCAROL"] and not review.needs_reviewer
    assert dms(team, "UBOB")[-1].startswith("👀 <@UALICE> asks you to review the results")
    _, trail = team.run("admin", experiment_history, number)
    assert [a.action for a in trail][-2:] == ["conclude", "review_requested"]
    assert listed(team, "manager")[0].startswith("*EXP-1* Tenure features · results · waiting on")


def test_with_auto_review_off_conclude_opens_an_unstaffed_review_and_tells_managers(
    team: Team,
) -> None:
    hire(team, "carol")
    with pytest.raises(ValidationError, match="auto_review must be one of on, off"):
        team.run("admin", team_service.set_rules, "churn", {"auto_review": "maybe"})
    team.run("admin", team_service.set_rules, "churn", {"auto_review": "off"})
    number = in_review(team)
    e = team.experiment(number)
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert review is not None and review.pending() == [] and review.needs_reviewer
    told = dms(team, "UMGR")[-1]
    assert "needs a reviewer" in told and "auto_review is off" in told
    assert "nobody asked" in listed(team, "manager")[0]
    assert "needs a reviewer" in listed(team, "manager", "overdue")[0]
    # The owner names reviewers: the review is staffed and waits on them.
    shared.request(team, number, "UBOB", "UCAROL")
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert review is not None and review.pending() == ["UBOB", "UCAROL"]
    assert not review.needs_reviewer


# --- item 5: nobody can take over ------------------------------------------------------


def small_review(team: Team) -> int:
    """Quorum 1 and one scientist besides the owner: bob reviews, nobody could replace him."""
    team.run("admin", team_service.set_rules, "churn", {"quorum": "1"})
    team.clock.now = WEDNESDAY
    number = in_review(team)
    assert assigned(team, number) == [("UBOB", "pending")]
    return number


def test_a_silent_reviewer_nobody_can_replace_is_kept_and_managers_are_told_once(
    team: Team,
) -> None:
    number = small_review(team)
    done = remind(team, MONDAY_AFTER)
    assert "kept <@UBOB> on EXP-1: nobody can take over; managers told" in done
    assert not any("by nobody" in line or "replaced" in line for line in done)
    assert assigned(team, number) == [("UBOB", "pending")]
    for later in (MONDAY_AFTER.replace(hour=10), MONDAY_AFTER.replace(day=10)):
        assert not any("kept" in line for line in remind(team, later))
    told = [t for t in dms(team, "UMGR") if "needs a reviewer" in t]
    assert len(told) == 1 and "<@UBOB> has not answered in" in told[0]
    assert len(calls(team, "review_needs_reviewer")) == 1
    line = listed(team, "manager")[0]
    assert "waiting on <@UBOB>" in line and "needs a reviewer" in line
    home = team.read(lambda uow: build_home(uow, notices_of(team), TEAM, "UBOB", team.clock(), TZ))
    assert [r.experiment.key for r in home.reviews] == ["EXP-1"]
    assert home.reviews[0].needs_reviewer
    # bob answers at last: staffed again.
    team.run("bob", reviews.decide, number, True, "")
    assert team.experiment(number).status is Status.APPROVED


def test_a_decline_nobody_can_take_over_tells_the_managers(team: Team) -> None:
    number = small_review(team)
    assert team.run("bob", reviews.decline, number, "on leave") is None
    e = team.experiment(number)
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert review is not None and review.needs_reviewer
    assert "needs a reviewer" in dms(team, "UMGR")[-1]
    assert "needs a reviewer" in listed(team, "manager")[0]


def test_a_reviewer_who_leaves_is_replaced_and_never_reminded(team: Team) -> None:
    hire(team, "carol", "dave")
    team.clock.now = WEDNESDAY
    number = in_review(team)
    assert assigned(team, number) == [("UBOB", "pending"), ("UCAROL", "pending")]
    reply = team.run(
        "admin", team_handlers.remove_member, RemoveMember("UBOB", Role.SCIENTIST, "churn")
    )
    assert "below" not in reply.text and "now has" not in reply.text  # 2 left for quorum 2
    assert assigned(team, number) == [
        ("UBOB", "replaced"),
        ("UCAROL", "pending"),
        ("UDAVE", "pending"),
    ]
    remind(team, MONDAY_AFTER)
    assert not any("⏰" in text for text in dms(team, "UBOB"))


def test_the_removal_reply_says_when_a_project_falls_below_its_quorum(team: Team) -> None:
    hire(team, "carol")
    reply = team.run(
        "admin", team_handlers.remove_member, RemoveMember("UCAROL", Role.SCIENTIST, "churn")
    )
    assert "churn now has 1 scientist(s) besides an experiment's owner for a quorum of 2" in (
        reply.text
    )


# --- item 5: the quorum ------------------------------------------------------------------


def test_named_reviewers_fewer_than_the_quorum_are_completed_by_the_rule(team: Team) -> None:
    hire(team, "carol", "dave")
    number = propose(team)
    requested = team.run("alice", reviews.request_review, number, None, ["UDAVE"])
    assert requested.reviewers == ["UDAVE", "UBOB"]


def test_a_quorum_beyond_the_eligible_scientists_is_refused_with_the_count(team: Team) -> None:
    hire(team, "carol")  # alice, bob, carol: 2 besides any owner
    with pytest.raises(ValidationError, match=re.escape("and churn has 2")):
        team.run("admin", team_service.set_rules, "churn", {"quorum": "5"})
    assert team.read(lambda uow: uow.projects.require(TEAM, "churn")).rules.quorum == 2
    # At request time too: bob leaves, and a request could never reach the quorum.
    number = propose(team)
    team.run("admin", team_service.remove_member, "UBOB", Role.SCIENTIST, "churn")
    with pytest.raises(ValidationError, match=re.escape("A quorum of 2 needs 2 scientists")):
        team.run("alice", reviews.request_review, number, None, [])


def test_conclude_short_of_the_quorum_still_concludes_and_needs_a_reviewer(team: Team) -> None:
    number = propose(team)  # alice and bob only: one reviewer for a quorum of 2
    team.run("alice", take_step, number, "start")
    team.run("alice", take_step, number, "conclude", outcome=Outcome.SUCCESS, text="works")
    e = team.experiment(number)
    review = team.read(lambda uow: reviews.open_results_review(uow, e))
    assert e.status is Status.IN_REVIEW
    assert review is not None and review.pending() == ["UBOB"] and review.needs_reviewer
    assert "the quorum is 2 but only <@UBOB> could be asked" in dms(team, "UMGR")[-1]


def test_the_digest_shows_a_review_that_needs_a_reviewer(team: Team) -> None:
    from bot.services.digest import preview
    from bot.slack.blocks import digest as digest_render

    hire(team, "carol")
    team.run("admin", team_service.set_rules, "churn", {"auto_review": "off"})
    in_review(team)  # nobody asked: the review needs reviewers
    ctx = Context(team.actors["manager"], team.clock(), notices_of(team), TZ)
    (digest,) = team.read(lambda uow: preview(uow, ctx, "churn"))
    text, blocks = digest_render.summary(digest)
    assert "1 review(s) waiting" in text  # it was "Reviews waiting: 0" with EXP-1 in review
    assert "Reviews waiting:* 1 · 🙋 1 need a reviewer" in str(blocks)
    replies = str([b for _, b in digest_render.details(digest)])
    assert "*EXP-1* Tenure features: nobody asked, 0 working day(s) — 🙋 needs a reviewer" in (
        replies
    )

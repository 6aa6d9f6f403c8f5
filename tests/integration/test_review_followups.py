"""Decisions after the experiment left review, and reminders for reviews nobody needs."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.model import Status
from bot.services import reviews
from bot.services.experiments import take_step
from tests.integration import test_review_services as shared
from tests.integration.conftest import Team
from tests.integration.test_review_services import hire, in_review, remind, request

# The fixtures of the review tests, used here too.
friday_review = shared.friday_review
notices = shared.notices


def test_a_second_change_request_and_a_changed_mind_are_recorded(team: Team) -> None:
    hire(team, "carol", "dave")
    number = in_review(team)
    request(team, number, "UBOB", "UCAROL", "UDAVE")
    team.run("bob", reviews.decide, number, False, "leakage in the features")
    assert team.experiment(number).status is Status.ANALYZING
    # The experiment waits on its owner now; more decisions are recorded, not refused.
    carol = team.run("carol", reviews.decide, number, False, "and the baseline too")
    assert carol.moved is None and team.experiment(number).status is Status.ANALYZING
    bob = team.run("bob", reviews.decide, number, True, "fine after all")
    assert bob.moved is None and team.experiment(number).status is Status.ANALYZING


def test_an_abandoned_experiment_sends_no_reminders(team: Team, friday_review: int) -> None:
    team.run("alice", take_step, friday_review, "abandon", text="priorities changed")
    # Thursday: every step would be due for a review still waiting.
    assert remind(team, datetime(2026, 3, 12, 9, 0, tzinfo=UTC)) == []
    assert team.run("bob", reviews.list_reviews, "pending") == []


def test_a_review_sent_back_to_its_owner_sends_no_reminders(team: Team, friday_review: int) -> None:
    team.run("bob", reviews.decide, friday_review, False, "needs another baseline")
    assert remind(team, datetime(2026, 3, 12, 9, 0, tzinfo=UTC)) == []

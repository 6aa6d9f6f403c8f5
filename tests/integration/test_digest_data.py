"""The digest read from a real database (SQLite and PostgreSQL): the frames storage builds
give the figures the week's story says, including an experiment idle since before the log
window and an evaluation compared with the baseline."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.domain.commands import NewExperiment
from bot.domain.digest import build_digests
from bot.domain.digest_values import Week
from bot.domain.evaluation import Kind, Predictions
from bot.domain.model import Outcome
from bot.services import evaluations
from bot.services.digest import LOOKBACK
from bot.services.evaluations import Submission
from bot.services.experiments import create_experiment, take_step
from tests.integration.conftest import TEAM, Team
from tests.integration.test_review_services import ReviewNotices

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def notices() -> ReviewNotices:
    """Notices that render review requests too (this module asks for reviews)."""
    return ReviewNotices()


WEEK = Week.of(datetime(2026, 3, 23).date(), BERLIN)  # Mon 23 Mar – Sun 29 Mar (DST: 167 h)
NOW = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # Monday 08:00 in Berlin


def at(team: Team, when: datetime) -> Team:
    team.clock.now = when
    return team


def scores(seed: int, strength: float) -> Predictions:
    rng = np.random.default_rng(11)
    y = (rng.random(300) < 0.4).astype(float)
    noise = np.random.default_rng(seed).normal(0, 1, 300)
    return Predictions(Kind.CLASSIFICATION, y, 1 / (1 + np.exp(-(strength * (2 * y - 1) + noise))))


def test_the_frames_from_the_database_give_the_weeks_figures(team: Team) -> None:
    old = datetime(2025, 11, 3, 10, tzinfo=UTC)  # long before the 12-week window
    at(team, old).run("bob", create_experiment, NewExperiment("churn", "Forgotten", "h", "auc"))
    at(team, old).run("bob", take_step, 1, "start")
    monday = datetime(2026, 3, 23, 9, tzinfo=UTC)
    for who, title in (("alice", "Baseline"), ("erin", "Boosting")):
        proposal = NewExperiment("churn", title, "h", metric="auc")
        at(team, monday).run(who, create_experiment, proposal)
    at(team, monday).run("alice", take_step, 2, "start")
    evaluations.submit_evaluation(team.db, team.ctx("alice"), Submission(2, scores(1, 0.3), "cli"))
    team.run("manager", evaluations.set_baseline, "churn", 2)
    wednesday = datetime(2026, 3, 25, 9, tzinfo=UTC)
    at(team, wednesday).run("erin", take_step, 3, "start")
    evaluations.submit_evaluation(team.db, team.ctx("alice"), Submission(3, scores(2, 1.5), "cli"))
    sunday_late = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # Sunday 23:30 in Berlin: this week
    at(team, sunday_late).run(
        "erin", take_step, 3, "conclude", outcome=Outcome.SUCCESS, text="lift"
    )
    next_monday = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # Monday 00:30 in Berlin: not
    at(team, next_monday).run("alice", take_step, 2, "abandon", text="replaced")

    data = team.read(lambda uow: uow.digest.data(TEAM, WEEK.start - LOOKBACK))
    assert "activity" in set(data.events["action"])  # EXP-1's last move, before the window
    project_id = team.read(lambda uow: uow.projects.require(TEAM, "churn").id)
    digest = build_digests(data, WEEK, NOW, BERLIN)[project_id]
    assert digest.movements["new"] == 2 and digest.moved["new"] == [2, 3]
    assert digest.movements["started"] == 2
    assert digest.movements["concluded_success"] == 1 and digest.moved["concluded_success"] == [3]
    assert digest.movements["abandoned"] == 0  # 00:30 on Monday belongs to the next week
    assert digest.velocity[-1][1] == {"success": 1, "failure": 0, "inconclusive": 0}
    (stale,) = digest.stale
    assert stale.number == 1 and stale.idle_days == (NOW - old).days
    best = digest.best_movement
    assert best is not None and best.number == 3 and best.baseline_number == 2
    assert best.metric == "auc" and best.improvement > 0
    assert digest.cycle_time_days is not None
    assert abs(digest.cycle_time_days - (sunday_late - monday).total_seconds() / 86400) < 1e-9


def test_reviews_that_wait_on_nobody_are_not_pending_in_the_digest(team: Team) -> None:
    from bot.domain.model import Role
    from bot.domain.review import ReviewKind
    from bot.services import reviews
    from bot.services import team as team_service

    monday = datetime(2026, 3, 23, 9, tzinfo=UTC)
    at(team, monday).run("admin", team_service.add_member, "UCARL", Role.SCIENTIST, "churn")
    at(team, monday).run("alice", create_experiment, NewExperiment("churn", "Tenure", "h", "auc"))
    at(team, monday).run("alice", take_step, 1, "start")
    at(team, monday).run("alice", take_step, 1, "conclude", outcome=Outcome.SUCCESS, text="x")
    at(team, monday).run("alice", reviews.request_review, 1, ReviewKind.RESULTS, ["UBOB", "UCARL"])
    project_id = team.read(lambda uow: uow.projects.require(TEAM, "churn").id)

    def pending() -> list[str]:
        data = team.read(lambda uow: uow.digest.data(TEAM, WEEK.start - LOOKBACK))
        return [
            r.reviewer for r in build_digests(data, WEEK, NOW, BERLIN)[project_id].pending_reviews
        ]

    assert sorted(pending()) == ["UBOB", "UCARL"]
    # bob asks for changes: EXP-1 goes back to analyzing and waits on alice, not on zoe.
    at(team, datetime(2026, 3, 24, 9, tzinfo=UTC)).run("bob", reviews.decide, 1, False, "redo")
    assert pending() == []

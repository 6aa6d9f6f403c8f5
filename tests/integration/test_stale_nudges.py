"""Stale nudges: what counts as activity, one DM per person, never to someone who left.

An experiment is stale after 14 days without activity: any audited change, review request
or decision, evaluation, parity check or link. Each person gets one DM per run listing all
of theirs; an experiment is nudged at most once per ISO week.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.services import team as team_service
from bot.services.nudges import run_stale_nudges
from storage.models import EvaluationRow, ParityRow, ReviewDecisionRow, ReviewRow
from tests.integration.conftest import T0, TEAM, Team
from tests.integration.test_jobs import SchedulingNotices, messages, propose, scheduled

DAY = timedelta(days=1)


@pytest.fixture
def notices() -> SchedulingNotices:
    """Notices that queue the real Slack DMs of the job."""
    return SchedulingNotices()


def nudge(team: Team, when: datetime) -> list[str]:
    return run_stale_nudges(team.db, scheduled(team), when)


def _activity(team: Team, number: int, source: str, when: datetime) -> None:
    """One piece of activity on EXP-``number`` at ``when``, as its use case stores it."""
    with team.db.write() as uow:
        experiment = uow.experiments.require(TEAM, number)
        if source == "audited change":
            uow.audit.record(
                TEAM, experiment.owner_id, "criterion_edited", when, experiment=experiment
            )
        elif source in ("review request", "review decision"):
            requested = when if source == "review request" else T0
            review = ReviewRow(
                team_id=TEAM,
                experiment_id=experiment.id,
                kind="results",
                requested_by=experiment.owner_id,
                requested_at=requested,
                is_open=True,
                conclusion=1,
            )
            uow.session.add(review)
            uow.session.flush()
            if source == "review decision":
                uow.session.add(
                    ReviewDecisionRow(
                        review_id=review.id,
                        reviewer="UBOB",
                        approve=True,
                        decided_at=when,
                        conclusion=1,
                    )
                )
        elif source == "evaluation":
            uow.session.add(
                EvaluationRow(
                    team_id=TEAM,
                    experiment_id=experiment.id,
                    kind="classification",
                    source="cli",
                    submitted_by="cli",
                    created_at=when,
                    summary={},
                )
            )
        else:
            uow.session.add(
                ParityRow(
                    team_id=TEAM,
                    experiment_id=experiment.id,
                    submitted_by="cli",
                    source="cli",
                    created_at=when,
                    result={},
                )
            )
        uow.commit()


@pytest.mark.parametrize(
    "source",
    ["audited change", "review request", "review decision", "evaluation", "parity check"],
)
def test_any_activity_keeps_an_experiment_fresh_and_idle_days_count_from_the_last(
    team: Team, source: str
) -> None:
    propose(team, "alice", "Busy one", T0)
    _activity(team, 1, source, T0 + 10 * DAY)
    assert nudge(team, T0 + 15 * DAY) == []
    assert nudge(team, T0 + 30 * DAY) == ["nudged <@UALICE> about EXP-1 (20 days idle)"]


def test_one_dm_per_person_lists_all_of_their_stale_experiments(team: Team) -> None:
    for title in ("First idea", "Second idea", "Third idea"):
        propose(team, "alice", title, T0)
    propose(team, "bob", "Bob's idea", T0 + DAY)
    start = len(team.outbox_rows())
    assert nudge(team, T0 + 16 * DAY) == [
        "nudged <@UALICE> about EXP-1 (16 days idle), EXP-2 (16 days idle), EXP-3 (16 days idle)",
        "nudged <@UBOB> about EXP-4 (15 days idle)",
    ]
    [(alice, to_alice, _), (bob, to_bob, _)] = messages(team, start)
    assert (alice, bob) == ("UALICE", "UBOB")
    assert to_alice.startswith("⏰ 3 experiment(s) have had no activity for 14 days or more:")
    for key, title in (("EXP-1", "First"), ("EXP-2", "Second"), ("EXP-3", "Third")):
        assert f"• *{key}* {title} idea: 16 days (proposed)." in to_alice
    assert to_bob.startswith("⏰ *EXP-4* Bob's idea has had no activity for 15 days (proposed).")
    # Still once a week per experiment.
    assert nudge(team, T0 + 17 * DAY) == []


def test_an_owner_who_left_the_project_is_not_nudged_its_managers_are(team: Team) -> None:
    propose(team, "alice", "Left behind", T0)
    propose(team, "bob", "Still here", T0)
    team.run("manager", team_service.remove_member, "UALICE", None, "churn")
    start = len(team.outbox_rows())
    done = nudge(team, T0 + 15 * DAY)
    assert "nudged <@UMGR> about EXP-1 (15 days idle, owner <@UALICE> left)" in done
    assert "nudged <@UBOB> about EXP-2 (15 days idle)" in done
    sent = {channel: text for channel, text, _ in messages(team, start)}
    assert "UALICE" not in sent
    assert {"UMGR", "UBOSS", "UBOB"} <= set(sent)
    assert "Its owner <@UALICE> is no longer on *churn*." in sent["UMGR"]
    assert "EXP-2" not in sent["UMGR"]

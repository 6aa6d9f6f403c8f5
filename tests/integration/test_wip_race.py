"""WIP limits hold under concurrent starts: counting happens under the workspace lock."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.domain.commands import NewExperiment
from bot.domain.errors import WipLimitExceeded
from bot.domain.model import Status
from bot.services.experiments import Moved, create_experiment, take_step
from storage.unit_of_work import Database
from tests.integration.conftest import Clock, RecordingNotices, seed_team
from tests.integration.test_concurrency import run_together


@pytest.mark.postgres
def test_two_starts_at_once_cannot_both_pass_a_wip_limit(
    pg_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    """alice may run one main-stream experiment; she starts two at the same moment.

    PostgreSQL only: SQLite writers are serial from their first statement (BEGIN
    IMMEDIATE), so there the two starts cannot overlap at all.
    """
    team = seed_team(pg_db, clock, notices)
    first = team.run("alice", create_experiment, NewExperiment("churn", "First idea", "h", "auc"))
    second = team.run("alice", create_experiment, NewExperiment("churn", "Second idea", "h", "auc"))
    # Both transactions have read their experiment before either counts what is running.
    barrier = threading.Barrier(2, timeout=10)

    def start(number: int) -> Any:
        with team.db.write() as uow:
            uow.experiments.require(team.actors["alice"].team_id, number)
            barrier.wait()
            moved = take_step(uow, team.ctx("alice"), number, "start")
            uow.commit()
            return moved

    results = run_together(lambda: start(first.number), lambda: start(second.number))

    assert sum(isinstance(r, Moved) for r in results) == 1, results
    refused = [r for r in results if isinstance(r, WipLimitExceeded)]
    assert len(refused) == 1 and "limit 1" in str(refused[0])
    running = [
        n for n in (first.number, second.number) if team.experiment(n).status is Status.RUNNING
    ]
    assert len(running) == 1

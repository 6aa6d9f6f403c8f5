"""The runs mlgov follows in MLflow, on SQLite and PostgreSQL: each effect taken once."""

from __future__ import annotations

import threading

import pytest

from bot.domain.commands import NewExperiment
from bot.domain.mlflow_runs import Outcome
from bot.services import experiments as exp
from storage.unit_of_work import Database
from tests.integration.conftest import T0, TEAM, Clock, RecordingNotices, Team, seed_team

RUN = "0123456789abcdef0123456789abcdef"


def follow(db: Database, experiment_id: int | None, run_id: str = RUN) -> bool:
    with db.write() as uow:
        linked = uow.mlflow_runs.link(
            TEAM,
            run_id,
            experiment_id,
            tag="EXP-1",
            status="RUNNING",
            url=f"http://mlflow/#/experiments/1/runs/{run_id}",
            name="nightly",
            linked_by="mlflow",
            started_at=T0,
            now=T0,
        )
        uow.commit()
    return linked


@pytest.fixture
def experiment_id(team: Team) -> int:
    return team.run("alice", exp.create_experiment, NewExperiment("churn", "Tenure")).id


def test_a_run_is_followed_once_and_finished_once(team: Team, experiment_id: int) -> None:
    db = team.db
    assert follow(db, experiment_id) and not follow(db, experiment_id)
    with db.write() as uow:
        assert uow.mlflow_runs.check_start(TEAM, RUN, T0)
        assert not uow.mlflow_runs.check_start(TEAM, RUN, T0)
        assert uow.mlflow_runs.finish(TEAM, RUN, Outcome.FAILED, T0, note="killed")
        assert not uow.mlflow_runs.finish(TEAM, RUN, Outcome.IMPORTED, T0)
        uow.commit()
    with db.read() as uow:
        (shown,) = uow.mlflow_runs.of_experiment(experiment_id)
        assert uow.mlflow_runs.pending() == []
    assert (shown.experiment_number, shown.outcome, shown.note) == (1, Outcome.FAILED, "killed")
    assert shown.start_checked and shown.done


def test_a_run_naming_no_experiment_is_kept_as_skipped(team: Team) -> None:
    assert follow(team.db, None)
    with team.db.read() as uow:
        found = uow.mlflow_runs.known([RUN, "f" * 32])
    assert list(found) == [(TEAM, RUN)]
    assert found[(TEAM, RUN)].outcome is Outcome.SKIPPED and found[(TEAM, RUN)].done


def test_the_cursor_only_moves_forward(team: Team) -> None:
    db = team.db
    for start_ms, expected in ((2_000, 2_000), (1_000, 2_000), (3_000, 3_000)):
        with db.write() as uow:
            uow.mlflow_runs.advance_cursor(start_ms, T0)
            uow.commit()
        with db.read() as uow:
            assert uow.mlflow_runs.cursor() == expected, start_ms


@pytest.mark.postgres
def test_replicas_finishing_the_same_run_at_once_take_the_effect_once(
    pg_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(pg_db, clock, notices)
    experiment = team.run("alice", exp.create_experiment, NewExperiment("churn", "Tenure"))
    follow(pg_db, experiment.id)
    barrier = threading.Barrier(4, timeout=30)  # a replica failing early fails the test
    took: list[bool] = []

    def replica() -> None:
        with pg_db.write() as uow:
            barrier.wait()
            took.append(uow.mlflow_runs.finish(TEAM, RUN, Outcome.FAILED, T0))
            uow.commit()

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(took) == [False, False, False, True]

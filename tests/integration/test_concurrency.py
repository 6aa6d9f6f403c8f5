"""Concurrent updates (SPEC §9): one wins, the other is told; SQLite writers queue."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain import lifecycle
from bot.domain.commands import NewExperiment
from bot.domain.errors import ConcurrentUpdate, InvalidTransition
from bot.domain.model import AuditEntry, Experiment, Status
from bot.services.experiments import Moved, create_experiment, take_step
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock, RecordingNotices, Team, seed_team

WAIT = 30  # seconds a thread may wait for its partner before the test fails


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run ``jobs`` in threads; each result is its return value or the exception it raised."""
    results: list[Any] = [None] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            results[index] = job()
        except Exception as exc:  # handed back to the test to assert on
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * WAIT)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results


def _history(team: Team, number: int) -> list[AuditEntry]:
    return team.read(lambda uow: uow.audit.for_experiment(uow.experiments.require(TEAM, number)))


def _assert_trail_explains(team: Team, experiment: Experiment) -> None:
    """The audit trail is an unbroken chain ending in the stored status."""
    trail = _history(team, experiment.number)
    assert trail[0].action == "created"
    for earlier, later in zip(trail, trail[1:], strict=False):
        assert later.from_status == earlier.to_status
    assert trail[-1].to_status == experiment.status.value
    assert experiment.version == len(trail)  # created at 1, +1 per change


def _propose(team: Team, title: str = "Recency features") -> Experiment:
    return team.run("alice", create_experiment, NewExperiment("churn", title, "h", "auc"))


# --- PostgreSQL: optimistic locking -------------------------------------------------------


@pytest.mark.postgres
def test_two_writers_read_the_same_version_one_commits_the_other_is_told(
    pg_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(pg_db, clock, notices)
    _propose(team)
    both_have_read = threading.Barrier(2, timeout=WAIT)
    versions_read: list[int] = []

    def writer(who: str, step: str) -> Experiment:
        actor = team.actors[who]
        with pg_db.write() as uow:
            before = uow.experiments.require(TEAM, 1)
            versions_read.append(before.version)
            both_have_read.wait()
            saved = uow.experiments.save(lifecycle.apply(before, step, actor, clock()))
            uow.audit.record(
                TEAM,
                actor.user_id,
                step,
                clock(),
                experiment=saved,
                from_status=before.status.value,
                to_status=saved.status.value,
            )
            uow.commit()
            return saved

    results = run_together(lambda: writer("alice", "start"), lambda: writer("manager", "abandon"))

    assert versions_read == [1, 1]
    won = [r for r in results if isinstance(r, Experiment)]
    lost = [r for r in results if isinstance(r, ConcurrentUpdate)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "EXP-1 was changed by someone else meanwhile" in str(lost[0])
    stored = team.experiment(1)
    assert (stored.status, stored.version) == (won[0].status, 2)
    assert [e.action for e in _history(team, 1)][1:] in (["start"], ["abandon"])
    _assert_trail_explains(team, stored)


def _step_after_barrier(
    team: Team, barrier: threading.Barrier, who: str, step: str, **options: Any
) -> Moved:
    """take_step in its own unit of work, writing only once every party has read."""
    with team.db.write() as uow:
        save = uow.experiments.save

        def save_when_all_have_read(experiment: Experiment) -> Experiment:
            barrier.wait()
            return save(experiment)

        uow.experiments.save = save_when_all_have_read  # type: ignore[method-assign]
        moved = take_step(uow, team.ctx(who), 1, step, **options)
        uow.commit()
        return moved


@pytest.mark.postgres
def test_owner_starts_while_a_manager_abandons_one_wins_and_invariants_hold(
    pg_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(pg_db, clock, notices)
    _propose(team)
    outbox_before = len(team.outbox_rows())
    barrier = threading.Barrier(2, timeout=WAIT)

    results = run_together(
        lambda: _step_after_barrier(team, barrier, "alice", "start"),
        lambda: _step_after_barrier(team, barrier, "manager", "abandon", text="priorities"),
    )

    won = [r for r in results if isinstance(r, Moved)]
    lost = [r for r in results if isinstance(r, ConcurrentUpdate)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "changed by someone else meanwhile" in str(lost[0])
    assert "/exp show EXP-1" in str(lost[0])
    stored = team.experiment(1)
    assert stored.status is won[0].after.status
    assert stored.version == 2
    _assert_trail_explains(team, stored)
    # Only the winner's change was announced and queued for Slack.
    changed = [c for c in notices.calls if c[0] == "experiment_changed"]
    assert len(changed) == 1
    assert len(team.outbox_rows()) == outbox_before + 1


# --- SQLite: writers queue behind each other ----------------------------------------------


def test_sqlite_writer_holds_the_database_from_its_first_read(
    sqlite_db: Database, sqlite_url: str, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(sqlite_db, clock, notices)
    _propose(team)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with sqlite_db.write() as uow:
            uow.experiments.require(TEAM, 1)
            # Another writer cannot even begin; a reader still sees the committed state.
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
            assert other.execute("SELECT status FROM experiments").fetchall() == [("proposed",)]
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_second_writer_waits_and_sees_the_first_ones_change(
    sqlite_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(sqlite_db, clock, notices)
    _propose(team)
    manager_has_read = threading.Event()
    owner_is_starting = threading.Event()

    def manager_abandons() -> Moved:
        with sqlite_db.write() as uow:
            save = uow.experiments.save

            def save_once_the_owner_tries(experiment: Experiment) -> Experiment:
                manager_has_read.set()
                assert owner_is_starting.wait(WAIT)
                return save(experiment)

            uow.experiments.save = save_once_the_owner_tries  # type: ignore[method-assign]
            moved = take_step(uow, team.ctx("manager"), 1, "abandon", text="priorities")
            uow.commit()
            return moved

    def owner_starts() -> Moved:
        assert manager_has_read.wait(WAIT)
        owner_is_starting.set()
        return team.run("alice", take_step, 1, "start")

    abandoned, refused = run_together(manager_abandons, owner_starts)

    assert isinstance(abandoned, Moved) and abandoned.after.status is Status.ABANDONED
    # The owner read after the manager committed: refused for the new state, not a conflict.
    assert isinstance(refused, InvalidTransition), refused
    assert "EXP-1 is abandoned; it cannot start" in str(refused)
    stored = team.experiment(1)
    assert (stored.status, stored.version) == (Status.ABANDONED, 2)
    _assert_trail_explains(team, stored)


def test_sqlite_eight_threads_reading_then_writing_never_hit_a_locked_database(
    sqlite_db: Database, clock: Clock, notices: RecordingNotices
) -> None:
    team = seed_team(sqlite_db, clock, notices)
    _propose(team)
    start = threading.Barrier(8, timeout=WAIT)

    def touch_ten_times(worker: int) -> int:
        start.wait()
        for _ in range(10):
            with sqlite_db.write() as uow:
                current = uow.experiments.require(TEAM, 1)
                saved = uow.experiments.save(current)
                uow.audit.record(
                    TEAM, f"UW{worker}", "touched", clock(), experiment=saved, detail={"w": worker}
                )
                uow.commit()
        return worker

    results = run_together(*(lambda w=w: touch_ten_times(w) for w in range(8)))

    assert results == list(range(8))
    assert team.experiment(1).version == 81
    assert [e.action for e in _history(team, 1)].count("touched") == 80


# --- both backends: one effect per Slack event, dense experiment numbers -----------------


def test_replicas_claiming_one_event_at_once_give_it_one_effect(db: Database, clock: Clock) -> None:
    start = threading.Barrier(3, timeout=WAIT)

    def claim() -> bool:
        start.wait()
        with db.write() as uow:
            won = uow.events.claim(TEAM, "Ev-retried", clock())
            uow.commit()
        return won

    assert sorted(run_together(claim, claim, claim)) == [False, False, True]


# --- both backends: experiment numbers under concurrent creation --------------------------


def test_concurrent_creation_numbers_experiments_without_gaps_or_duplicates(team: Team) -> None:
    start = threading.Barrier(8, timeout=WAIT)

    def create_ten(worker: int) -> list[int]:
        start.wait()
        return [_propose(team, f"w{worker} #{i}").number for i in range(10)]

    results = run_together(*(lambda w=w: create_ten(w) for w in range(8)))

    assert all(isinstance(r, list) for r in results), results
    numbers = [n for per_worker in results for n in per_worker]
    assert sorted(numbers) == list(range(1, 81))
    for per_worker in results:
        assert per_worker == sorted(per_worker)  # each worker's own creations go up
    stored = team.read(lambda uow: uow.experiments.find(TEAM, limit=500))
    assert sorted(e.number for e in stored) == list(range(1, 81))
    assert _propose(team, "after the rush").number == 81

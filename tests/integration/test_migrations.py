"""Migrations: from empty to head, no drift from the models, refusal to run on an old schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select

from bot.domain.availability import SlackStatus
from bot.domain.errors import SchemaOutOfDate, StorageError
from bot.domain.model import Workstream
from bot.domain.rotation import Swap
from storage import migrate
from storage.db import SessionFactories, create_db_engine
from storage.models import Base, ExperimentRow, ProjectRow, UtcDateTime, WorkspaceRow
from storage.unit_of_work import Database
from tests.integration.conftest import T0, TEAM

WEEK = date(2026, 12, 7)  # a meeting date


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database, on each backend."""
    created = create_db_engine(database_url)
    yield created
    created.dispose()


def _downgrade_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _columns(engine: Engine) -> dict[str, list[str]]:
    found = inspect(engine)
    return {t: [c["name"] for c in found.get_columns(t)] for t in found.get_table_names()}


def test_upgrade_from_empty_reaches_head(engine: Engine) -> None:
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(Base.metadata.tables) <= _tables(engine)
    migrate.ensure_current(engine)


def test_models_and_migrations_do_not_drift(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_empty_database_is_refused_with_the_command_to_run(engine: Engine) -> None:
    with pytest.raises(SchemaOutOfDate, match="run `mlgov db upgrade`") as refused:
        migrate.ensure_current(engine)
    assert "empty" in str(refused.value)
    assert isinstance(refused.value, StorageError)


def test_downgraded_database_is_refused_and_can_be_upgraded_again(engine: Engine) -> None:
    migrate.upgrade(engine)
    _downgrade_to(engine, "base")
    assert _tables(engine) & set(Base.metadata.tables) == set()
    with pytest.raises(SchemaOutOfDate, match="run `mlgov db upgrade`"):
        migrate.ensure_current(engine)
    migrate.upgrade(engine)
    migrate.ensure_current(engine)


def test_second_upgrade_changes_nothing_and_keeps_data(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(WorkspaceRow).values(
                team_id=TEAM, name="Acme", next_experiment_number=7, created_at=T0
            )
        )
    before = _columns(engine)
    migrate.upgrade(engine)
    assert _columns(engine) == before
    with engine.connect() as connection:
        counter = connection.scalar(select(WorkspaceRow.next_experiment_number))
    assert counter == 7
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_downgrading_a_step_keeps_a_workspace_that_projects_reference(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(WorkspaceRow).values(
                team_id=TEAM, name="Acme", next_experiment_number=7, created_at=T0
            )
        )
        connection.execute(
            insert(ProjectRow).values(
                team_id=TEAM, slug="churn", channel_id="CCHURN", created_at=T0
            )
        )
    _downgrade_to(engine, "0007")  # drops the workspaces' pause columns
    assert "paused_at" not in _columns(engine)["workspaces"]
    with engine.connect() as connection:
        assert connection.scalar(select(WorkspaceRow.next_experiment_number)) == 7
    migrate.upgrade(engine)
    migrate.ensure_current(engine)


def test_the_stored_slack_statuses_come_and_go_with_0014(engine: Engine) -> None:
    migrate.upgrade(engine)
    database = Database(SessionFactories(engine))
    with database.write() as uow:
        uow.slack_statuses.save(TEAM, {"UBOB": SlackStatus(":palm_tree:", "away")}, T0)
        uow.commit()
    _downgrade_to(engine, "0013")
    assert "slack_statuses" not in _tables(engine)
    assert "snoozes" in _tables(engine)  # 0013's tables stay
    with pytest.raises(SchemaOutOfDate):
        migrate.ensure_current(engine)
    migrate.upgrade(engine)
    with database.read() as uow:
        assert uow.slack_statuses.of(TEAM, ["UBOB"]) == {}  # a cache: nothing to keep
    with database.write() as uow:
        uow.slack_statuses.save(TEAM, {"UBOB": SlackStatus(":airplane:")}, T0)
        uow.commit()
    with database.read() as uow:
        assert uow.slack_statuses.of(TEAM, ["UBOB"])["UBOB"].emoji == ":airplane:"


def test_swaps_recorded_before_0015_read_back_as_hand_overs_and_new_ones_as_trades(
    engine: Engine,
) -> None:
    migrate.upgrade(engine)
    _downgrade_to(engine, "0014")
    old = sa.table(
        "rotation_swaps",
        *(sa.column(c) for c in ("project_id", "week", "user_a", "user_b", "created_by")),
        sa.column("created_at", UtcDateTime()),
    )
    with engine.begin() as connection:
        connection.execute(insert(WorkspaceRow).values(team_id=TEAM, name="Acme", created_at=T0))
        project = connection.execute(
            insert(ProjectRow)
            .values(team_id=TEAM, slug="churn", channel_id="CCHURN", created_at=T0)
            .returning(ProjectRow.id)
        ).scalar_one()
        connection.execute(
            insert(old).values(
                project_id=project,
                week=WEEK,
                user_a="UANN",
                user_b="UBOB",
                created_by="UANN",
                created_at=T0,
            )
        )
    migrate.upgrade(engine)
    database = Database(SessionFactories(engine))
    with database.write() as uow:
        uow.rotations.add_swap(project, Swap(WEEK, "UBOB", "UCAT"), "UBOB", T0)
        uow.commit()
    with database.read() as uow:
        assert uow.rotations.swaps(project, WEEK) == [
            Swap(WEEK, "UANN", "UBOB", trade=False),
            Swap(WEEK, "UBOB", "UCAT", trade=True),
        ]
    _downgrade_to(engine, "0014")
    assert "trade" not in _columns(engine)["rotation_swaps"]


@pytest.mark.postgres
def test_three_replicas_upgrading_at_once_all_succeed(pg_url: str) -> None:
    engines = [create_db_engine(pg_url) for _ in range(3)]
    start = threading.Barrier(3, timeout=30)
    failures: list[BaseException] = []

    def replica(engine: Engine) -> None:
        try:
            start.wait()
            migrate.upgrade(engine)
        except BaseException as exc:  # collected and asserted in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=replica, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failures == []
        assert not any(t.is_alive() for t in threads)
        for engine in engines:
            migrate.ensure_current(engine)
        with engines[0].connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


def test_rows_breaking_a_foreign_key_are_refused_and_nothing_is_saved(db: Database) -> None:
    with pytest.raises(StorageError, match="conflicts with something saved"), db.write() as uow:
        uow.session.add(
            ExperimentRow(
                team_id="T-NOBODY",
                number=1,
                project_id=999,
                title="orphan",
                owner_id="U1",
                workstream=Workstream.MAIN.value,
                status="proposed",
                version=1,
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.session.flush()
    with db.read() as uow:
        assert uow.session.scalars(select(ExperimentRow)).all() == []


def test_unknown_status_is_refused_by_the_schema(db: Database) -> None:
    with db.write() as uow:
        uow.workspaces.ensure(TEAM, T0)
        project = uow.projects.add(TEAM, "churn", "C1", T0)
        uow.commit()
    assert project is not None
    with pytest.raises(StorageError), db.write() as uow:
        uow.session.add(
            ExperimentRow(
                team_id=TEAM,
                number=1,
                project_id=project.id,
                title="bad",
                owner_id="U1",
                workstream=Workstream.MAIN.value,
                status="paused",
                version=1,
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.session.flush()

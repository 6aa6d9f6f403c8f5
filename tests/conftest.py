"""Shared fixtures: databases (SQLite and PostgreSQL), the fake Slack Web API, a running app."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.fakes.slack_api import FakeSlack
from tests.mlflow_server import MLFLOW_PYTHON, MlflowServer, mlflow_problem

# slack_sdk and urllib honour HTTP(S)_PROXY; the fake Slack and the app live on loopback.
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))
PG_URL = os.environ.get("MLGOV_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets this so that unreachable PostgreSQL fails the run instead of skipping tests.
REQUIRE_PG = os.environ.get("MLGOV_REQUIRE_POSTGRES") == "1"
# CI sets this so that a missing MLflow test environment fails the run instead of skipping.
REQUIRE_MLFLOW = os.environ.get("MLGOV_REQUIRE_MLFLOW") == "1"
_pg_problem: list[str | None] = []


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); checked once per run."""
    if not _pg_problem:
        from storage.db import create_db_engine

        try:
            engine = create_db_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_problem.append(None)
        except Exception as exc:  # any failure means "not reachable"
            _pg_problem.append(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    return _pg_problem[0]


def _require_postgres() -> None:
    """Fail (with MLGOV_REQUIRE_POSTGRES=1) or skip the test when PostgreSQL is away."""
    problem = _postgres_problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem + " (MLGOV_REQUIRE_POSTGRES=1)")
        pytest.skip(problem + "; set MLGOV_TEST_POSTGRES_URL")


def _pg_database(name: str) -> str:
    """PG_URL with its database replaced by ``name``."""
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _fresh_pg_database(template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template``, else an empty one), dropped afterwards.

    A database of its own, not a schema, so that nothing is shared between tests or
    pytest-xdist's workers (pg_advisory locks are per database); copying a migrated
    template takes a few milliseconds where migrating took a second.
    """
    from storage.db import create_db_engine

    name = f"mlgov_t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
        yield _pg_database(name)
        with admin.connect() as connection:  # FORCE: a killed server's connections too
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of an empty PostgreSQL database of the test's own, dropped afterwards."""
    _require_postgres()
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_pg_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per run (per xdist
    worker), for tests to copy; no connection is left open to it, as copying needs."""
    _require_postgres()
    from storage import migrate
    from storage.db import create_db_engine

    with _fresh_pg_database() as url:
        engine = create_db_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield str(make_url(url).database)


@pytest.fixture
def migrated_pg_url(migrated_pg_template: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own already at head (a copy of the template)."""
    _require_postgres()
    with _fresh_pg_database(migrated_pg_template) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in the test's own folder."""
    return f"sqlite:///{tmp_path / 'mlgov.db'}"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run, for tests to copy."""
    from storage import migrate
    from storage.db import create_db_engine

    path = tmp_path_factory.mktemp("template") / "mlgov.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A SQLite file already at head (a copy: migrating each test's file took 0.3 s)."""
    target = tmp_path / "mlgov.db"
    shutil.copyfile(migrated_sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_database_url(request: pytest.FixtureRequest) -> str:
    """A database at head, on SQLite and on PostgreSQL."""
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each storage test runs on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def mlflow_environment() -> Path:
    """MLflow's venv python; the test fails (MLGOV_REQUIRE_MLFLOW=1) or skips without it."""
    problem = mlflow_problem()
    if problem:
        if REQUIRE_MLFLOW:
            pytest.fail(problem + " (MLGOV_REQUIRE_MLFLOW=1)")
        pytest.skip(problem)
    return MLFLOW_PYTHON


@pytest.fixture(scope="session")
def mlflow_server_process(
    mlflow_environment: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A real `mlflow server`, once per run (per xdist worker)."""
    server = MlflowServer.start(tmp_path_factory.mktemp("mlflow"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlflow_server(mlflow_server_process: MlflowServer) -> MlflowServer:
    """The worker's MLflow server, emptied for this test (a worker runs one test at a time)."""
    if not mlflow_server_process.healthy():  # a test stopped it: start it again
        mlflow_server_process.stop()
        mlflow_server_process.launch()
    mlflow_server_process.reset()
    return mlflow_server_process


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API, over real HTTP on 127.0.0.1."""
    with FakeSlack() as fake:
        yield fake


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test on the MLflow environment is marked `mlflow` (for -m), as if written so, and
    grouped on one pytest-xdist worker (`--dist loadgroup`): one server starts, not two."""
    xdist = config.pluginmanager.hasplugin("xdist")  # its marker is unknown under -p no:xdist
    for item in items:
        if "mlflow_environment" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mlflow)
            if xdist:
                item.add_marker(pytest.mark.xdist_group("mlflow"))


def pytest_report_header() -> str:
    problem = _postgres_problem()
    mlflow = mlflow_problem()
    return (
        f"postgres: {'SKIPPED — ' + problem if problem else 'available at ' + PG_URL}\n"
        f"mlflow: {'SKIPPED — ' + mlflow if mlflow else 'test environment present'}"
    )


# Tests that passed using each required service, counted by the controller.
_service_tests_passed: dict[str, list[str]] = {"postgres": [], "mlflow": []}
_REQUIRED = {
    "postgres": (REQUIRE_PG, "MLGOV_REQUIRE_POSTGRES=1 but no PostgreSQL test ran."),
    "mlflow": (REQUIRE_MLFLOW, "MLGOV_REQUIRE_MLFLOW=1 but no MLflow test ran."),
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    names = getattr(item, "fixturenames", ())
    uses_pg = "pg_url" in names or "migrated_pg_url" in names or item.get_closest_marker("postgres")
    # Marked on the report, which travels from pytest-xdist's workers to the controller.
    if uses_pg:
        report.user_properties.append(("postgres", True))
    if item.get_closest_marker("mlflow"):
        report.user_properties.append(("mlflow", True))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for service, passed in _service_tests_passed.items():
            if (service, True) in report.user_properties:
                passed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With MLGOV_REQUIRE_POSTGRES=1 (or _MLFLOW=1), a run where no such test passed fails."""
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller counts every worker's reports
    for service, (required, complaint) in _REQUIRED.items():
        passed = _service_tests_passed[service]
        if required and session.testscollected and not passed and exitstatus == 0:
            session.exitstatus = 1
            print("\n" + complaint, flush=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    passed = _service_tests_passed
    terminalreporter.write_line(f"postgres: {len(passed['postgres'])} PostgreSQL tests passed")
    terminalreporter.write_line(f"mlflow: {len(passed['mlflow'])} MLflow tests passed")

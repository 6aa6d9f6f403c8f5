"""The end-to-end fixture: the real HTTP app, SQLite by default."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AppUnderTest
from tests.fakes.slack_api import FakeSlack


@pytest.fixture
def app(fake_slack: FakeSlack, migrated_sqlite_url: str) -> Iterator[AppUnderTest]:
    """mlgov served over HTTP on SQLite, talking to the fake Slack."""
    under_test = AppUnderTest(fake_slack, migrated_sqlite_url)
    yield under_test
    under_test.close()


@pytest.fixture
def pg_app(fake_slack: FakeSlack, migrated_pg_url: str) -> Iterator[AppUnderTest]:
    """mlgov served over HTTP on PostgreSQL."""
    under_test = AppUnderTest(fake_slack, migrated_pg_url)
    yield under_test
    under_test.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the shell's demo team, seeded once per run (per xdist worker)
    as test_shell's ``shell()`` seeds it: Berlin, the clock stopped at its NOW."""
    from tests.e2e.test_shell import shell

    path = tmp_path_factory.mktemp("demo") / "mlgov.db"
    code, out = shell(f"sqlite:///{path}")
    assert code == 0 and "Seeded a demo team" in out, out
    return path


@pytest.fixture
def demo_url(tmp_path: Path, demo_template: Path) -> str:
    """The seeded demo in the test's own SQLite file (a copy: seeding took seconds, and
    tests of the seeding itself use an empty ``sqlite_url``)."""
    target = tmp_path / "mlgov.db"
    shutil.copyfile(demo_template, target)
    return f"sqlite:///{target}"

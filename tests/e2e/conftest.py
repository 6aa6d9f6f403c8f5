"""The end-to-end fixture: the real HTTP app, SQLite by default."""

from __future__ import annotations

from collections.abc import Iterator

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

"""Asking Slack whether a user is a workspace admin: cached per team and user; a failure
is "could not ask", never "no", and is not cached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.slack.dispatch import Origin
from bot.slack.workspace_admins import WorkspaceAdmins
from tests.fakes.slack_api import FakeSlack


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(users={"UBOSS": {"is_owner": True}}) as fake:
        yield fake


def client(fake: FakeSlack, timeout: int = 5) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.api_url, timeout=timeout)


def asked(fake: FakeSlack) -> list[tuple[str, str]]:
    return [
        (c.headers.get("authorization", ""), c.params["user"]) for c in fake.calls("users.info")
    ]


def test_answers_are_cached_per_team_and_user_for_a_while(slack: FakeSlack) -> None:
    ticks = Ticks()
    admins = WorkspaceAdmins(ttl_seconds=300, clock=ticks)
    web = client(slack)
    boss = admins.ask(web, Origin("T1", "UBOSS"))
    assert boss.workspace_admin and not boss.admin_check_failed
    assert not admins.ask(web, Origin("T1", "UALICE")).workspace_admin
    admins.ask(web, Origin("T1", "UBOSS"))
    assert len(asked(slack)) == 2
    admins.ask(web, Origin("T2", "UBOSS"))  # another workspace is asked on its own
    assert len(asked(slack)) == 3
    ticks.now += 301
    admins.ask(web, Origin("T1", "UBOSS"))
    assert len(asked(slack)) == 4


def test_a_failure_is_unknown_not_no_and_is_asked_again(slack: FakeSlack) -> None:
    admins = WorkspaceAdmins()
    web = client(slack)
    slack.fail_next("users.info", status=502)
    failed = admins.ask(web, Origin("T1", "UBOSS"))
    assert not failed.workspace_admin
    assert "could not ask Slack" in failed.admin_check_failed
    assert "Slack answered 502" in failed.admin_check_failed
    assert admins.ask(web, Origin("T1", "UBOSS")).workspace_admin
    assert len(asked(slack)) == 2


def test_a_timeout_is_said_as_such(slack: FakeSlack) -> None:
    # slack_sdk retries a failed connection once; both attempts time out.
    slack.delay_next("users.info", 3, times=2)
    failed = WorkspaceAdmins().ask(client(slack, timeout=1), Origin("T1", "UBOSS"))
    assert "Slack did not answer in time" in failed.admin_check_failed


def test_an_unreachable_slack_is_said_as_such() -> None:
    with FakeSlack() as gone:
        web = client(gone)
    failed = WorkspaceAdmins().ask(web, Origin("T1", "UBOSS"))
    assert "Slack was unreachable" in failed.admin_check_failed

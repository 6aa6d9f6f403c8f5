"""Every plan of the rotation sees the same Slack statuses (SPEC §13): `/rotation show`, swap
requests, the calendar feed, the Home and the digest. Those that never ask Slack (feeds,
Home, digest) plan with the statuses as last read and stored, until their expiry.

churn (Berlin, meets Thursdays 10:00) has alice, bob and carol in its science pool, in that
joining order: without statuses alice presents on Thursday 3 December.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from bot.domain.calendar import CalendarKey
from bot.domain.digest_values import Week
from bot.services import digest, home, team
from bot.services.calendar import hash_key
from bot.services.ports import Context
from bot.slack.app import web_client
from bot.slack.blocks.swaps import TAKE
from bot.slack.statuses import SlackStatuses
from storage.unit_of_work import Database
from tests.fakes.slack_api import FakeSlack
from tests.integration.conftest import TEAM, Clock
from tests.integration.desk import ADMIN, ZONE, Desk

BERLIN = ZoneInfo(ZONE)
KEY = "calendar-key-of-mia"


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


UNTIL_FRIDAY = int(berlin(5, 0).timestamp())  # Slack's "This week": to the end of Friday


@pytest.fixture
def desk(db: Database, fake_slack: FakeSlack) -> Desk:
    clock = Clock(berlin(1, 9))
    # Nothing kept in memory: how fresh a status is goes by the stored reading and the
    # desk's clock (as for a process that did not read it itself).
    client = web_client("xoxb-test", fake_slack.api_url)
    statuses = SlackStatuses(client, db, clock, ttl_seconds=0)
    desk = Desk(db, clock, statuses)
    desk.setup("UALICE", "UBOB", "UCAROL")
    desk.ok("UMIA", "/rotation", "config churn weekday=thu time=10:00")
    with db.write() as uow:
        project = uow.projects.require(TEAM, "churn")
        uow.calendar_keys.add(hash_key(KEY), CalendarKey(TEAM, "UMIA", project.id), clock())
        uow.commit()
    return desk


def feed_presenters(desk: Desk) -> dict[str, str]:
    """The calendar feed's meetings: day -> summary."""
    feed = desk.dispatcher.calendar("churn", KEY)
    assert feed is not None
    events = icalendar.Calendar.from_ical(feed).walk("VEVENT")
    return {str(e.decoded("dtstart").date()): str(e.get("summary")) for e in events}


def home_and_digest_presenter(desk: Desk) -> tuple[str | None, str | None]:
    """Who presents next, as mia's Home and churn's digest show it."""
    now = desk.clock()
    notices = desk.dispatcher.notices
    with desk.db.read() as uow:
        shown = home.build_home(uow, notices, TEAM, "UMIA", now, ZONE)
        ctx = Context(team.resolve_actor(uow, TEAM, "UMIA", {ADMIN}), now, notices, ZONE)
        week = digest.of_week(uow, ctx, "churn", Week.containing(now, BERLIN))
    assert week.next_rotation is not None
    return shown.meetings[0].slot.presenter, week.next_rotation.presenter


def test_a_palm_tree_until_friday_is_skipped_alike_in_every_plan(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    fake_slack.set_status("UALICE", ":palm_tree:", "", UNTIL_FRIDAY)
    shown = desk.at(berlin(2, 10)).ok("UBOB", "/rotation", "show churn 2")
    this_week, next_week = shown.split(";")[:2]
    assert "UBOB" in this_week and "UALICE" not in this_week, shown
    assert "UALICE" in next_week, shown
    asked = len(fake_slack.calls("users.profile.get"))
    assert asked >= 3

    # The next morning, long after the five minutes a reading is kept: the feed, the Home
    # and the digest plan with the stored status, and none of them asks Slack.
    desk.at(berlin(3, 8))
    meetings = feed_presenters(desk)
    assert "UBOB" in meetings["2026-12-03"] and "UALICE" not in meetings["2026-12-03"]
    assert "UALICE" in meetings["2026-12-10"]
    assert home_and_digest_presenter(desk) == ("UBOB", "UBOB")
    assert len(fake_slack.calls("users.profile.get")) == asked

    # A swap request plans alike: alice, away by her status, cannot take bob's week.
    desk.ok("UBOB", "/rotation", "swap request 2026-12-03")
    with desk.db.read() as uow:
        project = uow.projects.require(TEAM, "churn")
        request = uow.swap_requests.open_for(project.id, berlin(3, 0).date())
    assert request is not None
    refused = desk.press("UALICE", TAKE, str(request.id))
    assert "who is not away on 2026-12-03 can take it" in refused.text, refused.text
    taken = desk.press("UCAROL", TAKE, str(request.id))
    assert not taken.failed, taken.text


def test_without_a_status_read_the_plans_agree_too(desk: Desk, fake_slack: FakeSlack) -> None:
    # Nobody has asked Slack yet: the feed, Home and digest know no status, and say alice;
    # the Slack-reading show learns of her holiday, and from then on they all agree.
    fake_slack.set_status("UALICE", ":palm_tree:", "", UNTIL_FRIDAY)
    desk.at(berlin(2, 10))
    assert "UALICE" in feed_presenters(desk)["2026-12-03"]
    assert home_and_digest_presenter(desk) == ("UALICE", "UALICE")
    assert not fake_slack.calls("users.profile.get")
    assert "UBOB" in desk.ok("UBOB", "/rotation", "show churn 1")
    assert "UBOB" in feed_presenters(desk)["2026-12-03"]
    assert home_and_digest_presenter(desk) == ("UBOB", "UBOB")
    # Cleared in Slack and read again: the stored reading is replaced everywhere.
    fake_slack.set_status("UALICE")
    desk.at(berlin(2, 10, 6)).ok("UBOB", "/rotation", "show churn 1")
    assert "UALICE" in feed_presenters(desk)["2026-12-03"]
    assert home_and_digest_presenter(desk) == ("UALICE", "UALICE")

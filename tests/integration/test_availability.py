"""Away by Slack status (SPEC §13): reviewer selection and the rotation skip people whose
status says they are away, until its expiry, through the core, the jobs and the real
users.profile.get of the fake Slack over HTTP; when Slack cannot be asked, mlgov's own
records decide and the assignment says so.

churn (Berlin) has alice, bob and carol, in that joining order: without statuses bob is
the first choice for alice's reviews.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.slack.app import web_client
from bot.slack.statuses import SlackStatuses
from storage.unit_of_work import Database
from tests.fakes.slack_api import FakeSlack
from tests.integration.conftest import Clock
from tests.integration.desk import ADMIN, ZONE, Desk

BERLIN = ZoneInfo(ZONE)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


# "🌴 until Friday": Slack's "This week" clears the status at the end of Friday 4 December.
UNTIL_FRIDAY = int(berlin(5, 0).timestamp())


class Monotonic:
    """The status cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache_clock() -> Monotonic:
    return Monotonic()


@pytest.fixture
def desk(db: Database, fake_slack: FakeSlack, cache_clock: Monotonic) -> Desk:
    clock = Clock(berlin(1, 9))
    statuses = SlackStatuses(
        web_client("xoxb-test", fake_slack.api_url), db, clock, clock=cache_clock
    )
    desk = Desk(db, clock, statuses)
    desk.setup("UALICE", "UBOB", "UCAROL")
    for n in range(1, 4):
        desk.ok("UALICE", "/exp", f"new churn Idea {n} --hypothesis h{n} --metric auc")
    return desk


def asked(reply: str) -> str:
    return reply.split("Asked ")[1].split(" to review")[0]


def test_a_palm_tree_until_friday_skips_the_reviewer_until_friday_and_not_after(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    fake_slack.set_status("UBOB", ":palm_tree:", "", UNTIL_FRIDAY)
    assert asked(desk.at(berlin(2, 10)).ok("UALICE", "/review", "request EXP-1 design")) == (
        "<@UCAROL>"
    )
    # Friday afternoon: carol has a review open and bob none, but bob is still away.
    assert asked(desk.at(berlin(4, 16)).ok("UALICE", "/review", "request EXP-2 design")) == (
        "<@UCAROL>"
    )
    # Monday: the status has expired (Slack may not have cleared it yet): bob is back.
    assert asked(desk.at(berlin(7, 10)).ok("UALICE", "/review", "request EXP-3 design")) == (
        "<@UBOB>"
    )
    thread = desk.posts("CCHURN", "Review of the design")
    assert thread and not any("could not be read" in p["text"] for p in thread)


def test_statuses_are_read_once_per_person_while_cached(
    desk: Desk, fake_slack: FakeSlack, cache_clock: Monotonic
) -> None:
    desk.at(berlin(2, 10)).ok("UALICE", "/review", "request EXP-1 design")
    asked_of = sorted(c.params["user"] for c in fake_slack.calls("users.profile.get"))
    assert asked_of == ["UALICE", "UBOB", "UCAROL"]
    desk.ok("UALICE", "/review", "request EXP-2 design")
    assert len(fake_slack.calls("users.profile.get")) == 3
    fake_slack.set_status("UBOB", ":face_with_thermometer:", "")  # no expiry: away for now
    cache_clock.now += 301  # five minutes later the cache reads Slack again
    assert asked(desk.at(berlin(2, 10, 6)).ok("UALICE", "/review", "request EXP-3 design")) == (
        "<@UCAROL>"
    )
    assert len(fake_slack.calls("users.profile.get")) == 6


@pytest.mark.parametrize(
    ("emoji", "text", "away"),
    [
        ("", "OOO until the 10th", True),
        ("", "Out Of Office", True),
        ("", "on vacation 🏝", True),
        ("", "sick today", True),
        (":airplane:", "", True),
        (":face_with_thermometer::skin-tone-3:", "", True),
        ("", "Goooood morning", False),  # a word, not letters inside one
        ("", "homesick for the office", False),
        (":coffee:", "in a meeting", False),
    ],
)
def test_what_counts_as_away(
    desk: Desk, fake_slack: FakeSlack, emoji: str, text: str, away: bool
) -> None:
    fake_slack.set_status("UBOB", emoji, text)
    reply = desk.at(berlin(2, 10)).ok("UALICE", "/review", "request EXP-1 design")
    assert asked(reply) == ("<@UCAROL>" if away else "<@UBOB>")


def test_the_workspace_sets_what_counts_or_turns_it_off(desk: Desk, fake_slack: FakeSlack) -> None:
    fake_slack.set_status("UBOB", ":palm_tree:", "", UNTIL_FRIDAY)
    fake_slack.set_status("UCAROL", ":house_with_garden:", "parental leave")
    reply = desk.at(berlin(2, 9)).ok(
        ADMIN, "/mlgov", "rules away_emoji=:airplane: away_text=OOO, parental leave"
    )
    assert "away_emoji=:airplane:" in reply and "away_text=OOO,parental leave" in reply
    assert asked(desk.ok("UALICE", "/review", "request EXP-1 design")) == "<@UBOB>"
    desk.ok(ADMIN, "/mlgov", "rules away_status=off")
    assert "away_status=off" in desk.ok("UALICE", "/mlgov", "rules")
    # Statuses no longer count: carol, with no review open, is back in the choice.
    assert asked(desk.ok("UALICE", "/review", "request EXP-2 design")) == "<@UCAROL>"


@pytest.mark.parametrize(
    ("who", "text", "said"),
    [
        ("UALICE", "rules away_status=off", "Only an admin or a workspace-wide manager"),
        (ADMIN, "rules away_status=maybe", "away_status must be on or off"),
        (ADMIN, "rules away_emoji=palm_tree", "emoji names like :palm_tree:"),
        (ADMIN, "rules away_status=off working_hours=17:00-09:00", "must end after"),
        (ADMIN, "rules working_hours=9-5", "like 09:00-17:00"),
        (ADMIN, "rules away_stauts=off", "unknown workspace rule 'away_stauts'"),
        (ADMIN, "rules churn away_status=off", "is a rule of the whole workspace"),
    ],
)
def test_bad_workspace_rules_are_refused_and_change_nothing(
    desk: Desk, fake_slack: FakeSlack, who: str, text: str, said: str
) -> None:
    fake_slack.set_status("UBOB", ":palm_tree:", "", UNTIL_FRIDAY)
    reply = desk.at(berlin(2, 9)).do(who, "/mlgov", text)
    assert reply.startswith(":warning:") and said in reply, reply
    assert "away_status=on" in desk.ok(ADMIN, "/mlgov", "rules")
    assert "working_hours=09:00-17:00" in desk.ok(ADMIN, "/mlgov", "rules")
    assert asked(desk.ok("UALICE", "/review", "request EXP-1 design")) == "<@UCAROL>"


def test_when_slack_cannot_be_asked_mlgov_records_decide_and_the_request_says_so(
    desk: Desk, fake_slack: FakeSlack, cache_clock: Monotonic
) -> None:
    fake_slack.set_status("UCAROL", ":palm_tree:", "")  # unknown while Slack fails
    desk.at(berlin(2, 9)).ok("UBOB", "/rotation", "ooo 2026-12-01 2026-12-04")
    fake_slack.fail_next("users.profile.get", status=503, times=3)  # Slack is down
    reply = desk.at(berlin(2, 10)).ok("UALICE", "/review", "request EXP-1 design")
    assert asked(reply) == "<@UCAROL>"  # bob is out of office by mlgov's own record
    # The failure is held: within the minute Slack is not asked again.
    asked_so_far = len(fake_slack.calls("users.profile.get"))
    assert 1 <= asked_so_far <= 3
    assert "could not be read" in desk.ok("UALICE", "/rotation", "show churn 1")
    assert len(fake_slack.calls("users.profile.get")) == asked_so_far
    [request] = desk.posts("CCHURN", "Review of the design of EXP-1")
    assert "Slack statuses could not be read (Slack answered 503)" in request["text"]
    assert any("Slack statuses could not be read" in str(b) for b in request["blocks"])
    # A minute later Slack is asked again, and answers: carol is away by her status too.
    fake_slack.reset()  # Slack is back
    cache_clock.now += 61
    reply = desk.do("UALICE", "/review", "request EXP-2 design")
    assert "No scientist of churn other than the owner is available" in reply, reply


def test_the_rotation_skips_a_presenter_away_by_status_who_keeps_their_place(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    # Scientists are in the science pool from joining: alice first, so she is next.
    desk.at(berlin(1, 9)).ok("UMIA", "/rotation", "config churn weekday=thu time=10:00")
    fake_slack.set_status("UALICE", ":palm_tree:", "", UNTIL_FRIDAY)
    shown = desk.at(berlin(2, 10)).ok("UBOB", "/rotation", "show churn 2")
    this_week, next_week = shown.split(";")[:2]
    assert "UBOB" in this_week and "UALICE" not in this_week, shown
    assert "UALICE" in next_week, shown
    desk.at(berlin(3, 9)).job("rotation")
    [announcement] = desk.posts("CCHURN", "review Thu 03 Dec")
    assert "<@UBOB> presents" in announcement["text"]
    assert "<@UALICE> — away (Slack status)" in str(announcement["blocks"])
    desk.at(berlin(10, 9)).job("rotation")
    [later] = desk.posts("CCHURN", "review Thu 10 Dec")
    assert "<@UALICE> presents" in later["text"]


def test_the_rotation_announcement_says_when_slack_could_not_be_asked(
    desk: Desk, fake_slack: FakeSlack
) -> None:
    desk.at(berlin(1, 9)).ok("UMIA", "/rotation", "config churn weekday=thu time=10:00")
    fake_slack.fail_next("users.profile.get", status=500)
    desk.at(berlin(3, 9)).job("rotation")
    [announcement] = desk.posts("CCHURN", "review Thu 03 Dec")
    assert "<@UALICE> presents" in announcement["text"]
    assert "Slack statuses could not be read (Slack answered 500)" in announcement["text"]


def test_an_unexpected_slack_failure_is_held_like_any_other_then_asked_again(
    db: Database, fake_slack: FakeSlack, cache_clock: Monotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken HTTP answer (not an OSError) once left the question 'under way' for good:
    every later read for that person joined it, and the team's failure was never cleared."""
    import http.client

    clock = Clock(berlin(1, 9))
    statuses = SlackStatuses(
        web_client("xoxb-test", fake_slack.api_url), db, clock, clock=cache_clock
    )
    fake_slack.set_status("UBOB", ":palm_tree:", "")
    real = statuses.client.users_profile_get

    def broken(**kwargs: object) -> object:
        raise http.client.IncompleteRead(b"{")

    monkeypatch.setattr(statuses.client, "users_profile_get", broken)
    try:
        statuses.fetch("T1", ["UBOB"])
        reading = statuses.read("T1", ["UBOB"])
        assert reading.statuses == {} and reading.problem == "Slack's answer could not be read"
        monkeypatch.setattr(statuses.client, "users_profile_get", real)
        cache_clock.now += 61  # the failure is held a minute, then Slack is asked again
        assert statuses.read("T1", ["UBOB"]).missing == ("UBOB",)
        statuses.fetch("T1", ["UBOB"])
        reading = statuses.read("T1", ["UBOB"])
        assert reading.problem == "" and reading.statuses["UBOB"].emoji == ":palm_tree:"
    finally:
        statuses.close()

"""Calendar feeds, skip dates and swap requests over signed HTTP, as Slack and a calendar
app send them: the feed is fetched over real HTTP and read back by two parsers.

The app runs in UTC on the real clock, so the expected weeks are worked out with the pure
rotation functions (tests.e2e.test_rotation_http): churn is created today, its first week
is a science week.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from bot.domain.rotation import Topic
from bot.jobs import JOBS
from bot.jobs.scheduler import run_job
from tests.e2e.harness import ADMIN, AppUnderTest
from tests.e2e.test_rotation_http import listed, ok, refused, science_weeks, weeks
from tests.fakes.slack_api import FakeSlack
from tests.waiting import wait_until

PUBLIC_URL = "https://mlgov.example.com"


@pytest.fixture
def churn(fake_slack: FakeSlack, migrated_sqlite_url: str) -> Iterator[AppUnderTest]:
    """mlgov over HTTP that knows its public URL; churn in #CCHURN with scientists alice,
    bob and carol, engineer erin and manager mia."""
    app = AppUnderTest(fake_slack, migrated_sqlite_url, public_url=PUBLIC_URL)
    app.command_reply(ADMIN, "/mlgov", "project add churn <#CCHURN|churn>")
    for user, role in (
        ("UALICE|alice", "scientist"),
        ("UBOB|bob", "scientist"),
        ("UMIA|mia", "manager"),
        ("UERIN|erin", "engineer"),
        ("UCAROL|carol", "scientist"),
    ):
        app.command_reply(ADMIN, "/mlgov", f"member add <@{user}> {role} churn")
    yield app
    app.close()


def dms(app: AppUnderTest, user: str) -> list[str]:
    return [
        c.params["text"]
        for c in app.fake.calls("chat.postMessage")
        if c.params.get("channel") == user
    ]


def subscribe(app: AppUnderTest, user: str, feed: str = "") -> str:
    """`/rotation calendar [feed]`; the path and query of the URL it DMed (served by this
    app rather than at PUBLIC_URL)."""
    before = len(dms(app, user))
    assert "by direct message" in ok(app, user, f"calendar {feed}".strip())
    wait_until(lambda: len(dms(app, user)) > before)
    url = next(w for w in dms(app, user)[-1].split() if w.startswith(PUBLIC_URL))
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def events(body: str) -> dict[str, tuple[datetime, str, str]]:
    """UID -> (start, summary, status) as icalendar reads the feed; ical must agree."""
    mine = {
        str(e["UID"]): (e.decoded("DTSTART"), str(e["SUMMARY"]), str(e["STATUS"]))
        for e in icalendar.Calendar.from_ical(body).walk("VEVENT")
    }
    theirs = {
        e.uid: (e.dtstart, e.summary, e.status.value)
        for e in IcsCalendarStream.calendar_from_ics(body).events
    }
    assert theirs == mine
    return mine


def test_a_project_feed_lists_twelve_weeks_and_a_swap_updates_its_entry(
    churn: AppUnderTest,
) -> None:
    app = churn
    path = subscribe(app, "UMIA", "churn")
    feed = app.get(path)
    assert feed.status == 200
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    before = events(feed.body)
    planned = weeks(12)
    assert sorted(start.date() for start, _, _ in before.values()) == [d for d, _ in planned]
    assert all(
        start.hour == 10 and start.utcoffset() is not None for start, _, _ in before.values()
    )
    first_science = science_weeks()[0]
    uid = next(u for u, (start, _, _) in before.items() if start.date() == first_science)
    assert before[uid][1] == "churn science review: alice"

    ok(app, "UMIA", f"swap <@UALICE|alice> <@UBOB|bob> {first_science}")
    after = events(app.get(path).body)
    assert after.keys() == before.keys()  # the same entries, one of them changed
    assert after[uid][1] == "churn science review: bob"
    # Each entry keeps its time; later weeks may change presenter (alice's turn moved).
    assert {u: v[0] for u, v in after.items()} == {u: v[0] for u, v in before.items()}


def test_a_wrong_key_gets_404_and_leaks_nothing(churn: AppUnderTest) -> None:
    app = churn
    path = subscribe(app, "UALICE", "churn")
    key = path.partition("key=")[2]
    not_found = {
        "/calendar/churn.ics": app.get("/calendar/churn.ics"),
        "wrong key": app.get("/calendar/churn.ics?key=" + "A" * len(key)),
        "another feed": app.get(f"/calendar/me.ics?key={key}"),
        "another project": app.get(f"/calendar/fraud.ics?key={key}"),
        "long key": app.get("/calendar/churn.ics?key=" + "x" * 5000),
    }
    for what, result in not_found.items():
        assert (result.status, result.body) == (404, "No such calendar.\n"), what
    assert app.get(path).status == 200
    # Only the key's hash is kept: neither its table nor the delivered DM holds the key.
    wait_until(app.idle)
    assert key not in json.dumps(dump(app, "calendar_keys")) + json.dumps(dump(app, "outbox"))

    ok(app, "UALICE", "calendar reset churn")
    assert app.get(path).status == 404
    # Someone who leaves the project loses the feed with it.
    other = subscribe(app, "UBOB", "churn")
    app.command_reply(ADMIN, "/mlgov", "member remove <@UBOB> churn")
    assert app.get(other).status == 404


def dump(app: AppUnderTest, table: str) -> list[Any]:
    from sqlalchemy import text

    with app.runtime.db.engine.connect() as connection:
        return [list(map(str, row)) for row in connection.execute(text(f"SELECT * FROM {table}"))]


def test_the_personal_feed_holds_the_meetings_one_presents_and_the_reviews_one_owes(
    churn: AppUnderTest,
) -> None:
    app = churn
    app.command_reply(
        "UALICE", "/exp", "new churn Tenure --hypothesis tenure helps --metric auc --min-delta 0.01"
    )
    app.command_reply("UALICE", "/exp", "start EXP-1")
    app.command_reply("UALICE", "/exp", "conclude EXP-1 success it helps")  # asks bob and carol
    path = subscribe(app, "UBOB", "me")
    assert path.startswith("/calendar/me.ics?key=")
    mine = events(app.get(path).body)
    presenting = [v for u, v in mine.items() if u.startswith("rotation-")]
    reviews = [v for u, v in mine.items() if u.startswith("review-")]
    science = [day for day, topic in weeks(12) if topic is Topic.SCIENCE]
    # Science weeks go alice, bob, carol, alice, bob, carol.
    assert sorted(start.date() for start, _, _ in presenting) == [science[1], science[4]]
    assert [summary for _, summary, _ in reviews] == ["Review due: EXP-1 Tenure (results review)"]
    assert "by direct message" not in refused_text(app, "UZOE", "calendar me")


def refused_text(app: AppUnderTest, user: str, line: str) -> str:
    return refused(app, user, line, channel="CGENERAL")


def test_a_skipped_meeting_is_not_announced_and_everyone_keeps_their_place(
    churn: AppUnderTest,
) -> None:
    app = churn
    day, topic = weeks(1)[0]
    assert "Only a manager of churn or an admin skips" in refused(app, "UALICE", f"skip {day}")
    reply = ok(app, "UMIA", f"skip {day} company holiday")
    assert reply.startswith(f"Skipped the churn meeting of {day:%a %Y-%m-%d} (company holiday)")
    shown = listed(ok(app, "UALICE", "show 3"))
    presenter = "UALICE" if topic is Topic.SCIENCE else "UERIN"
    assert shown[0] == f"{day} skipped"
    assert shown[1] == f"{weeks(2)[1][0]} {topic} {presenter}"  # the same turn, a week later
    announce = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    assert run_job(JOBS["rotation"], app.runtime.job_env(), announce) == []
    wait_until(app.idle)
    assert not [
        c
        for c in app.fake.calls("chat.postMessage")
        if "review" in c.params.get("text", "") and c.params.get("channel") == "CCHURN"
    ]
    # The presenter who was due hears that they keep their place.
    assert any("is skipped (company holiday)" in text for text in dms(app, presenter))


def test_take_it_hands_the_week_to_the_first_presser_and_the_post_says_who(
    churn: AppUnderTest,
) -> None:
    app = churn
    week = science_weeks()[0]  # alice's
    assert "only they, or a manager of churn" in refused(app, "UBOB", f"swap request {week}")
    assert "Offered your" in ok(app, "UALICE", "swap request")
    posts = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "can't present" in c.params.get("text", "")
    )
    post = posts[0]
    assert post.params["channel"] == "CCHURN"
    assert post.params["text"] == f"<@UALICE> can't present on {week.day} {week:%b} — Take it"
    button = post.params["blocks"][1]["elements"][0]
    assert (button["text"]["text"], button["action_id"]) == ("Take it", "rotation_take")

    result, key = app.button("UERIN", "rotation_take", button["value"])  # not a scientist
    assert result.status == 200
    answer = app.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)
    assert "Only someone in the science pool of churn" in answer[-1].params["text"]

    result, key = app.button("UBOB", "rotation_take", button["value"])
    answer = app.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)
    assert (
        answer[-1]
        .params["text"]
        .startswith(f"You present on {week.day} {week:%b} instead of <@UALICE>")
    )
    update = app.fake.wait_for(
        "chat.update", predicate=lambda c: c.params.get("ts") == post.response["ts"]
    )
    assert (
        update[-1]
        .params["text"]
        .startswith(f"✅ <@UBOB> took <@UALICE>'s {week.day} {week:%b} presentation")
    )
    assert "rotation_take" not in json.dumps(update[-1].params.get("blocks"))  # no button left
    wait_until(lambda: dms(app, "UALICE") and dms(app, "UBOB"))
    assert "<@UBOB> takes your" in dms(app, "UALICE")[-1]
    assert f"{week} science UBOB" in listed(ok(app, "UMIA", "show"))

    result, key = app.button("UCAROL", "rotation_take", button["value"])
    answer = app.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)
    assert "<@UBOB> took this week already." in answer[-1].params["text"]


def test_a_berlin_project_feed_names_berlin_as_its_time_zone(churn: AppUnderTest) -> None:
    """The app's own zone is UTC; churn meets in Berlin: both feeds say Berlin, as their
    events do (an app showing one zone per calendar shows the meetings' wall-clock time)."""
    app = churn
    ok(app, "UMIA", "config churn timezone=Europe/Berlin")
    for user, feed in (("UMIA", "churn"), ("UALICE", "me")):
        calendar = icalendar.Calendar.from_ical(app.get(subscribe(app, user, feed)).body)
        assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Berlin", feed
        starts = [e.decoded("DTSTART") for e in calendar.walk("VEVENT")]
        assert starts and {str(s.tzinfo) for s in starts} == {"Europe/Berlin"}, feed
        assert {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")} == {"Europe/Berlin"}, feed

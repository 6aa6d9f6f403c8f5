"""/rotation over signed HTTP: show, stats, ooo, swap and config, as Slack sends them.

The app runs in UTC on the real clock, so the expected weeks are worked out with the
pure rotation functions: churn is created today, its first week is a science week.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.domain.rotation import RotationConfig, Topic, meetings_from, monday_of, topic_for
from bot.jobs import JOBS
from bot.jobs.scheduler import run_job
from tests.e2e.harness import ADMIN, AppUnderTest

FORM = "application/x-www-form-urlencoded"


def rotation(app: AppUnderTest, user: str, text: str, channel: str = "CGENERAL") -> dict[str, Any]:
    """`/rotation <text>` typed by ``user`` in ``channel``; what it answered."""
    body, key = app.command_body(user, "/rotation", text)
    form = dict(urllib.parse.parse_qsl(body))
    form["channel_id"], form["channel_name"] = channel, channel.lower()
    result = app.signed(urllib.parse.urlencode(form), FORM)
    assert result.status == 200, result
    calls = app.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)
    return calls[-1].params


def ok(app: AppUnderTest, user: str, text: str, channel: str = "CCHURN") -> str:
    reply = rotation(app, user, text, channel)
    assert not reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def refused(app: AppUnderTest, user: str, text: str, channel: str = "CCHURN") -> str:
    reply = rotation(app, user, text, channel)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def weeks(count: int = 6) -> list[tuple[date, Topic]]:
    """The next meetings of a project created today with the default rotation."""
    now = datetime.now(UTC)
    config = RotationConfig(anchor=monday_of(now.date()))
    return [(day, topic_for(config, day)) for day in meetings_from(config, now, count)]


def science_weeks() -> list[date]:
    return [day for day, topic in weeks() if topic is Topic.SCIENCE]


def listed(show_text: str) -> list[str]:
    """`/rotation show`'s fallback text as 'date topic presenter' entries."""
    _, _, entries = show_text.partition(": ")
    return entries.split("; ")


@pytest.fixture
def churn_app(app: AppUnderTest) -> AppUnderTest:
    """churn in #CCHURN: scientists alice and bob, engineer erin, manager mia."""
    app.setup_team()
    return app


def test_show_in_a_project_channel_lists_that_projects_rotation(churn_app: AppUnderTest) -> None:
    app = churn_app
    app.command_reply(ADMIN, "/mlgov", "project add fraud <#CFRAUD|fraud>")
    app.command_reply(ADMIN, "/mlgov", "member add <@UALICE> scientist fraud")

    # In a channel of no project, someone on two projects must say which.
    text = refused(app, "UALICE", "show", channel="CGENERAL")
    assert "Which project? Name it (your projects: churn, fraud)." in text

    shown = ok(app, "UALICE", "show", channel="CCHURN")
    assert shown.startswith("Rotation of churn: ")
    scientists = iter(["UALICE", "UBOB"])
    expected = [
        f"{day} {topic} {'UERIN' if topic is Topic.ENGINEERING else next(scientists)}"
        for day, topic in weeks(4)
    ]
    assert listed(shown)[:4] == expected
    assert ok(app, "UALICE", "show", channel="CFRAUD").startswith("Rotation of fraud: ")
    # Named explicitly, from anywhere, with a number of weeks.
    assert len(listed(ok(app, "UALICE", "show churn 3", channel="CGENERAL"))) == 3
    assert "not on project churn" in refused(app, "UZOE", "show churn", channel="CGENERAL")


def test_ooo_skips_the_presenter_in_show_who_keeps_their_place(churn_app: AppUnderTest) -> None:
    app = churn_app
    first, second = science_weeks()[:2]
    assert "Noted: out of office" in ok(app, "UALICE", f"ooo {first} {first}", channel="CGENERAL")
    assert app.count("absences") == 1
    reply = rotation(app, "UBOB", "show", channel="CCHURN")
    entries = listed(reply["text"])
    assert f"{first} science UBOB" in entries and f"{second} science UALICE" in entries
    assert "skipped: <@UALICE> — out of office" in str(reply["blocks"])


def test_ooo_list_shows_absences_and_cancel_withdraws_one(churn_app: AppUnderTest) -> None:
    app = churn_app
    first = science_weeks()[0]
    ok(app, "UALICE", f"ooo {first} {first}", channel="CGENERAL")
    mine = ok(app, "UALICE", "ooo list", channel="CGENERAL")
    assert f"Your absences:\n• {first:%a %Y-%m-%d} to {first:%a %Y-%m-%d}" in mine
    assert f"<@UALICE> {first:%a %Y-%m-%d}" in ok(app, "UMIA", "ooo list churn")
    assert f"{first} science UBOB" in listed(ok(app, "UBOB", "show"))

    assert f"Out of office {first} to {first} withdrawn" in ok(app, "UALICE", f"ooo cancel {first}")
    assert app.count("absences") == 0
    assert "You have no absence recorded" in ok(app, "UALICE", "ooo list")
    assert f"{first} science UALICE" in listed(ok(app, "UBOB", "show"))


def test_swap_hands_the_meeting_over_and_show_follows(churn_app: AppUnderTest) -> None:
    app = churn_app
    first, second = science_weeks()[:2]
    swapped = ok(app, "UBOB", f"swap <@UALICE|alice> <@UBOB|bob> {first}")
    assert "Swapped:" in swapped and "<@UBOB> (swapped with <@UALICE>)" in swapped
    assert f"In exchange <@UALICE> presents on {second:%a %Y-%m-%d}" in swapped
    assert app.count("rotation_swaps") == 2  # a trade: bob's next week goes to alice
    entries = listed(ok(app, "UMIA", "show"))
    assert f"{first} science UBOB" in entries and f"{second} science UALICE" in entries
    # alice did not ask: she is told by DM which week she has now (bob, who asked, is not).
    dms = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "A swap changed your" in c.params.get("text", "")
    )
    assert [c.params["channel"] for c in dms] == ["UALICE"]
    assert f"you now present on {second:%a} {second.day} {second:%b}" in dms[0].params["text"]


def test_stats_show_who_presented_once_meetings_are_announced(churn_app: AppUnderTest) -> None:
    app = churn_app
    assert "No churn reviews were announced in the last 12 weeks." in ok(app, "UALICE", "stats")
    day, topic = weeks(1)[0]
    presenter = "UALICE" if topic is Topic.SCIENCE else "UERIN"
    announce = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    env = app.runtime.job_env()
    assert run_job(JOBS["rotation"], env, announce) == [
        f"churn: announced the {topic} review of {day}"
    ]
    post = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "review" in c.params.get("text", "")
    )
    assert [c.params["channel"] for c in post] == ["CCHURN"]
    assert f"<@{presenter}> presents" in post[0].params["text"]

    stats = rotation(app, "UMIA", "stats churn 4", channel="CGENERAL")
    assert stats["text"] == f"Rotation stats of churn: {presenter} presented 1"
    assert "presented 1, skipped none, swaps 0" in str(stats["blocks"])


def test_bad_rotation_input_gets_a_clear_error_and_changes_nothing(churn_app: AppUnderTest) -> None:
    app = churn_app
    first = science_weeks()[0]
    today = datetime.now(UTC).date()
    tables = ("rotations", "absences", "rotation_swaps", "presentations", "audit_log")
    before = [app.count(table) for table in tables]
    shown = ok(app, "UALICE", "show")
    cases = [
        ("UMIA", "config churn weekday=funday colour=red", "weekday must be one of"),
        ("UMIA", "config churn weekday=funday colour=red", "unknown key 'colour'"),
        ("UMIA", "config churn time=9am", "time must be a time like 09:00, not '9am'"),
        ("UMIA", "config churn time=11:00 announce=12:00", "must not be after the meeting"),
        ("UMIA", "config churn weekday", "'weekday' is not key=value"),
        ("UMIA", "config nosuch weekday=tue", "No project 'nosuch'"),
        ("UALICE", "config churn weekday=tue", "Only a manager of churn or an admin"),
        ("UALICE", "ooo 2026-13-01 2026-13-02", "'2026-13-01' is not a date like"),
        ("UALICE", f"ooo {today + timedelta(3)} {today}", "The last day is before the first."),
        ("UALICE", f"ooo {today - timedelta(9)} {today - timedelta(2)}", "is over already"),
        ("UALICE", f"ooo {today} {today + timedelta(400)}", "at most a year"),
        ("UALICE", f"ooo {today}", "ooo needs the first and the last day away."),
        ("UALICE", "ooo cancel 2026-13-01", "'2026-13-01' is not a date like"),
        ("UALICE", "ooo cancel", "ooo cancel needs the first day of the absence"),
        ("UALICE", f"ooo cancel {first}", f"You have no absence from {first}"),
        ("UALICE", "ooo list churn", "Only a manager of churn or an admin lists"),
        ("UALICE", "ooo list churn fraud", "Unexpected 'fraud'."),
        ("UALICE", "swap <@UALICE> <@UALICE>", "Swap two different people."),
        ("UALICE", f"swap <@UALICE> <@UERIN> {first}", "<@UERIN> is not in the science pool"),
        ("UERIN", f"swap <@UALICE> <@UBOB> {first}", "Only one of the two, or a manager"),
        ("UALICE", f"swap <@UALICE> <@UBOB> {first + timedelta(1)}", "is not one of the next"),
        ("UALICE", "swap <@UALICE>", "swap needs two people"),
        ("UALICE", "frobnicate", "Unknown subcommand 'frobnicate'"),
    ]
    for user, line, message in cases:
        assert message in refused(app, user, line), line
    assert [app.count(table) for table in tables] == before
    assert ok(app, "UALICE", "show") == shown
    config = ok(app, "UMIA", "config churn")
    assert "weekday=mon time=10:00 announce=09:00 timezone=UTC" in config

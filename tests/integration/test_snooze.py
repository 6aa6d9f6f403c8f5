"""Snoozed reminders (SPEC §13) through the core and the jobs, at chosen times in Berlin
(09:00-17:00 working hours, UTC+1 in December 2026): a reminder snoozed on a Friday
afternoon comes back once, on Monday morning, and the review's latency is unchanged."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.services import digest
from bot.services.ports import Context
from bot.services.team import resolve_actor
from bot.slack.notices import SlackNotices
from storage.models import SnoozeRow
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock
from tests.integration.desk import ZONE, Desk

BERLIN = ZoneInfo(ZONE)
REMINDER = "has waited on you"


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def desk(db: Database) -> Desk:
    """churn with alice and bob; alice's EXP-1 asked bob for a design review on Tuesday
    1 December at 10:00, and the job reminded him on Thursday."""
    desk = Desk(db, Clock(berlin(1, 9)))
    desk.setup("UALICE", "UBOB")
    desk.ok("UALICE", "/exp", "new churn Tenure --hypothesis tenure predicts churn --metric auc")
    desk.at(berlin(1, 10)).ok("UALICE", "/review", "request EXP-1 design")
    desk.at(berlin(3, 10)).job("review-reminders")
    return desk


def snoozes(desk: Desk) -> int:
    with desk.db.read() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(SnoozeRow)) or 0)


def test_the_reminder_carries_the_three_snooze_buttons(desk: Desk) -> None:
    [reminder] = desk.posts("UBOB", REMINDER)
    buttons = [e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]]
    labels = [b["text"]["text"] for b in buttons]
    assert labels == ["Remind me in 2 h", "Remind me tomorrow", "Remind me Monday"]
    assert {b["value"] for b in buttons} == {f"review:{desk.review_id(1)}"}


def test_snoozed_on_friday_afternoon_until_tomorrow_comes_back_once_on_monday_morning(
    desk: Desk,
) -> None:
    value = f"review:{desk.review_id(1)}"
    reply = desk.at(berlin(4, 15)).press("UBOB", "snooze_tomorrow", value)
    assert "Mon 07 Dec at 09:00 (Europe/Berlin)" in reply.text, reply.text
    assert "clock keeps running" in reply.text
    for moment in (berlin(4, 16), berlin(5, 12), berlin(6, 23), berlin(7, 8, 59)):
        desk.at(moment).job("review-reminders")
        assert len(desk.posts("UBOB", REMINDER)) == 1, f"sent early, at {moment}"
    done = desk.at(berlin(7, 9)).job("review-reminders")
    assert any("again (snoozed)" in line for line in done), done
    assert len(desk.posts("UBOB", REMINDER)) == 2
    again = desk.posts("UBOB", REMINDER)[-1]
    assert "for 4 working days" in again["text"]  # the clock kept running meanwhile
    assert any(b["type"] == "actions" for b in again["blocks"])  # and can be snoozed again
    desk.at(berlin(7, 9, 15)).job("review-reminders")
    desk.at(berlin(7, 11)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 2


def test_snoozing_leaves_the_digest_latency_counted_from_the_request(desk: Desk) -> None:
    desk.at(berlin(4, 15)).press("UBOB", "snooze_monday", f"review:{desk.review_id(1)}")
    desk.at(berlin(7, 9)).job("review-reminders")
    desk.at(berlin(7, 10)).ok("UBOB", "/review", "approve EXP-1")
    with desk.db.read() as uow:
        ctx = Context(resolve_actor(uow, TEAM, "UMIA"), berlin(7, 11), SlackNotices(), ZONE)
        [week] = digest.preview(uow, ctx, "churn")
    # Requested Tuesday 10:00, decided Monday 10:00: six days, snooze or not.
    assert week.figures.review_latency_days == pytest.approx(6.0)


def test_two_hours_count_working_hours_only(desk: Desk) -> None:
    value = f"review:{desk.review_id(1)}"
    reply = desk.at(berlin(4, 16, 30)).press("UBOB", "snooze_2h", value)
    assert "Mon 07 Dec at 10:30" in reply.text, reply.text
    desk.at(berlin(7, 10, 29)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 1
    desk.at(berlin(7, 10, 30)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 2


def test_a_later_snooze_replaces_the_earlier_one(desk: Desk) -> None:
    value = f"review:{desk.review_id(1)}"
    desk.at(berlin(4, 10)).press("UBOB", "snooze_2h", value)
    desk.at(berlin(4, 11)).press("UBOB", "snooze_monday", value)
    desk.at(berlin(4, 16)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 1
    desk.at(berlin(7, 9)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 2
    assert snoozes(desk) == 1


def test_a_snoozed_reminder_of_a_review_answered_meanwhile_is_not_sent(desk: Desk) -> None:
    desk.at(berlin(4, 15)).press("UBOB", "snooze_tomorrow", f"review:{desk.review_id(1)}")
    desk.at(berlin(4, 16)).ok("UBOB", "/review", "approve EXP-1")
    desk.at(berlin(7, 9)).job("review-reminders")
    assert len(desk.posts("UBOB", REMINDER)) == 1


@pytest.mark.parametrize(
    ("user", "action", "value", "said"),
    [
        ("UALICE", "snooze_2h", "review:{id}", "no longer waits on you"),
        ("UBOB", "snooze_2h", "review:999999", "no longer exists"),
        ("UBOB", "snooze_2h", "review:abc", "no longer exists"),
        ("UBOB", "snooze_forever", "review:{id}", "not one I know"),
        ("UBOB", "snooze_2h", "lunch:{id}", "not one I know"),
        ("UBOB", "snooze_2h", "stale:EXP-x", "names no experiment"),
        ("UBOB", "snooze_2h", "stale:EXP-404", "No experiment EXP-404"),
    ],
)
def test_a_bad_snooze_is_refused_clearly_and_changes_nothing(
    desk: Desk, user: str, action: str, value: str, said: str
) -> None:
    reply = desk.at(berlin(4, 15)).press(user, action, value.format(id=desk.review_id(1)))
    assert reply.text.startswith(":warning:") and said in reply.text, reply.text
    assert snoozes(desk) == 0


def test_a_snoozed_stale_nudge_waits_for_monday_and_this_week_sends_no_other(db: Database) -> None:
    desk = Desk(db, Clock(berlin(1, 9)))
    desk.setup("UALICE", "UBOB")
    desk.ok("UALICE", "/exp", "new churn Idle one --hypothesis h --metric auc")
    desk.ok("UALICE", "/exp", "start EXP-1")
    nudge = "no activity"
    desk.at(berlin(16, 10)).job("stale-nudges")  # Wednesday, 15 days later
    [first] = desk.posts("UALICE", nudge)
    assert any(b["type"] == "actions" for b in first["blocks"])
    reply = desk.at(berlin(16, 11)).press("UALICE", "snooze_monday", "stale:EXP-1")
    assert "EXP-1 on Mon 21 Dec at 09:00" in reply.text, reply.text
    desk.at(berlin(18, 16)).job("stale-nudges")
    assert len(desk.posts("UALICE", nudge)) == 1
    # Monday 00:30 is a new week, but the snoozed nudge keeps its own time.
    desk.at(berlin(21, 0, 30)).job("stale-nudges")
    assert len(desk.posts("UALICE", nudge)) == 1
    desk.at(berlin(21, 9)).job("stale-nudges")
    assert len(desk.posts("UALICE", nudge)) == 2
    desk.at(berlin(21, 10)).job("stale-nudges")
    assert len(desk.posts("UALICE", nudge)) == 2


def test_a_snoozed_stale_nudge_is_dropped_once_the_experiment_moved(db: Database) -> None:
    desk = Desk(db, Clock(berlin(1, 9)))
    desk.setup("UALICE", "UBOB")
    desk.ok("UALICE", "/exp", "new churn Idle one --hypothesis h --metric auc")
    desk.ok("UALICE", "/exp", "start EXP-1")
    desk.at(berlin(16, 10)).job("stale-nudges")
    desk.at(berlin(16, 11)).press("UALICE", "snooze_tomorrow", "stale:EXP-1")
    desk.at(berlin(16, 12)).ok("UALICE", "/exp", "analyze EXP-1")
    desk.at(berlin(17, 9)).job("stale-nudges")
    assert len(desk.posts("UALICE", "no activity")) == 1

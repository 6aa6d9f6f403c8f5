"""Snooze times and away-by-status rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.domain.availability import SLACK_STATUS, SlackStatus, as_absence, away_at, says_away
from bot.domain.errors import ValidationError
from bot.domain.snooze import SnoozeFor, WorkingDay, snooze_until
from bot.domain.workspace_rules import (
    WorkspaceRules,
    updated_workspace_rules,
    workspace_rules_from_dict,
    workspace_rules_to_dict,
)

BERLIN = ZoneInfo("Europe/Berlin")
DAY = WorkingDay(time(9), time(17))


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("now", "choice", "until"),
    [
        (local(2026, 12, 4, 15), SnoozeFor.TOMORROW, local(2026, 12, 7, 9)),  # Friday
        (local(2026, 12, 5, 11), SnoozeFor.TOMORROW, local(2026, 12, 7, 9)),  # Saturday
        (local(2026, 12, 8, 23), SnoozeFor.TOMORROW, local(2026, 12, 9, 9)),
        (local(2026, 12, 4, 15), SnoozeFor.TWO_HOURS, local(2026, 12, 4, 17)),
        (local(2026, 12, 4, 16, 30), SnoozeFor.TWO_HOURS, local(2026, 12, 7, 10, 30)),
        (local(2026, 12, 8, 7), SnoozeFor.TWO_HOURS, local(2026, 12, 8, 11)),
        (local(2026, 12, 6, 20), SnoozeFor.TWO_HOURS, local(2026, 12, 7, 11)),  # Sunday
        (local(2026, 12, 7, 8), SnoozeFor.MONDAY, local(2026, 12, 14, 9)),  # a Monday: next
        (local(2026, 12, 6, 8), SnoozeFor.MONDAY, local(2026, 12, 7, 9)),  # Sunday: tomorrow
        # Summer time starts on 29 March 2026: Monday 09:00 is 07:00 UTC, not 08:00.
        (local(2026, 3, 27, 15), SnoozeFor.MONDAY, datetime(2026, 3, 30, 7, tzinfo=UTC)),
    ],
)
def test_snoozes_come_back_in_working_hours(
    now: datetime, choice: SnoozeFor, until: datetime
) -> None:
    assert snooze_until(choice, now, BERLIN, DAY) == until


def test_other_working_hours() -> None:
    late = WorkingDay(time(10), time(19))
    assert snooze_until(SnoozeFor.TWO_HOURS, local(2026, 12, 4, 18), BERLIN, late) == local(
        2026, 12, 7, 11
    )


RULES = WorkspaceRules()
FRIDAY_END = local(2026, 12, 5, 0)


def test_a_palm_tree_until_friday_is_away_until_then_and_not_after() -> None:
    status = SlackStatus(":palm_tree:", "", FRIDAY_END)
    assert away_at(status, RULES, local(2026, 12, 4, 23, 59))
    assert not away_at(status, RULES, FRIDAY_END)
    absence = as_absence("UBOB", status, RULES, local(2026, 12, 2, 10), BERLIN)
    assert absence is not None
    assert (absence.start.isoformat(), absence.end.isoformat()) == ("2026-12-02", "2026-12-04")
    assert absence.reason == SLACK_STATUS


def test_a_status_without_expiry_is_read_as_a_week() -> None:
    absence = as_absence("UBOB", SlackStatus("", "OOO"), RULES, local(2026, 12, 2, 10), BERLIN)
    assert absence is not None and absence.end.isoformat() == "2026-12-09"


def test_a_stored_status_without_expiry_lasts_a_week_from_its_reading() -> None:
    read = SlackStatus("", "OOO", read_at=local(2026, 11, 30, 10))
    absence = as_absence("UBOB", read, RULES, local(2026, 12, 2, 10), BERLIN)
    assert absence is not None and absence.end.isoformat() == "2026-12-07"
    assert away_at(read, RULES, local(2026, 12, 7, 9, 59))
    assert not away_at(read, RULES, local(2026, 12, 7, 10))
    # One with an expiry counts until then however long ago it was read.
    old = SlackStatus(":palm_tree:", "", FRIDAY_END, read_at=local(2026, 11, 2, 10))
    assert away_at(old, RULES, local(2026, 12, 4, 23, 59))


@pytest.mark.parametrize(
    ("emoji", "text", "away"),
    [
        (":palm_tree:", "", True),
        (":AIRPLANE:", "", True),
        (":face_with_thermometer::skin-tone-2:", "", True),
        ("", "ooo", True),
        ("", "Out of office until Monday", True),
        ("", "VACATION", True),
        ("", "off sick", True),
        ("", "cooool", False),
        ("", "homesick", False),
        (":house:", "wfh", False),
        ("", "", False),
    ],
)
def test_says_away(emoji: str, text: str, away: bool) -> None:
    assert says_away(SlackStatus(emoji, text), RULES) is away


def test_rules_off_count_nobody_away() -> None:
    off = updated_workspace_rules(RULES, {"away_status": "off"})
    assert not says_away(SlackStatus(":palm_tree:", "vacation"), off)


def test_workspace_rules_round_trip_and_refuse_all_at_once() -> None:
    new = updated_workspace_rules(
        RULES,
        {"away_emoji": ":Plane:, :sun:", "away_text": "PTO, leave", "working_hours": "08:30-16:00"},
    )
    assert new.away_emoji == (":plane:", ":sun:") and new.away_text == ("PTO", "leave")
    assert new.day == (time(8, 30), time(16))
    assert workspace_rules_from_dict(workspace_rules_to_dict(new)) == new
    assert updated_workspace_rules(RULES, {"away_text": "none"}).away_text == ()
    with pytest.raises(ValidationError) as refused:
        updated_workspace_rules(RULES, {"away_status": "yes", "working_hours": "17:00-09:00"})
    assert "away_status must be on or off" in str(refused.value)
    assert "must end after they start" in str(refused.value)

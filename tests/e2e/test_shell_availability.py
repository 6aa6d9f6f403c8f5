"""Slack statuses and snooze buttons in the terminal shell, as a person tries them."""

from __future__ import annotations

from tests.e2e.test_shell import shell


def test_a_status_set_with_colon_status_skips_the_presenter(demo_url: str) -> None:
    code, out = shell(
        demo_url,
        "/rotation show churn 1",
        ":status @bob :palm_tree: back soon until 2099-01-01",
        "/rotation show churn 1",
        ":status",
        ":status @bob clear",
        "/rotation show churn 1",
        ":status @bob :palm_tree: until 2026-02-31",
    )
    assert code == 0
    shows = [part for part in out.split("ada> ") if part.startswith("/rotation show")]
    assert "science: @bob" in shows[0]
    assert "skipped: @bob — away (Slack status)" in shows[1]
    assert "@bob: :palm_tree: back soon, until Thu 01 Jan 2099" in out
    assert "science: @bob" in shows[2]
    assert "has a date that is not YYYY-MM-DD" in out


def test_a_review_reminder_is_snoozed_by_its_button(demo_url: str) -> None:
    code, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Snoozy --hypothesis h --metric auc",
        "/review request EXP-7 design",
        ":jobs run review-reminders --as-of 2026-12-08T10:00 --force",
        ":as bob",
        ":buttons",
        "2",
    )
    assert code == 0
    assert "[1] Remind me in 2 h  [2] Remind me tomorrow  [3] Remind me Monday" in out
    assert "I'll remind you of the review of EXP-7 on" in out


def test_a_status_set_in_one_session_holds_in_the_next(demo_url: str) -> None:
    code, first = shell(
        demo_url,
        ":status @bob :airplane: vacation until 2099-01-01",
        "/rotation show churn 1",
    )
    assert code == 0
    assert "skipped: @bob" in first
    code, second = shell(demo_url, "/rotation show churn 1", ":status")
    assert code == 0
    shows = [part for part in second.split("ada> ") if part.startswith("/rotation show")]
    assert "skipped: @bob" in shows[0]
    assert "science: @bob" not in shows[0]
    assert "@bob: :airplane: vacation, until Thu 01 Jan 2099" in second
    assert "Nobody has a status" not in second

"""Slack statuses and snooze buttons over signed HTTP, as Slack sends them (SPEC §13).

churn in #CCHURN: alice owns EXP-1; bob and carol are the other scientists (bob joined
first, so without statuses he is asked first).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.services.reviews import run_review_reminders
from tests.e2e.harness import ADMIN, AppUnderTest
from tests.waiting import wait_until


@pytest.fixture
def churn(app: AppUnderTest) -> AppUnderTest:
    app.setup_team()
    app.command_reply(ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    app.command_reply(ADMIN, "/mlgov", "rules churn quorum=1")
    reply = app.command_reply("UALICE", "/exp", "new churn Tenure --hypothesis h --metric auc")
    assert "EXP-1" in reply["text"], reply
    return app


def test_a_reviewer_on_holiday_by_slack_status_is_not_asked(churn: AppUnderTest) -> None:
    back = int(time.time()) + 3 * 86400
    churn.fake.set_status("UBOB", ":palm_tree:", "back Friday", back)
    reply = churn.command_reply("UALICE", "/review", "request EXP-1 design")
    assert "Asked <@UCAROL>" in reply["text"], reply
    asked = {c.params["user"] for c in churn.fake.calls("users.profile.get")}
    assert {"UBOB", "UCAROL"} <= asked


def test_slack_failing_falls_back_to_mlgov_records_and_the_request_says_so(
    churn: AppUnderTest,
) -> None:
    today = datetime.now(UTC).date()
    reply = churn.command_reply("UBOB", "/rotation", f"ooo {today} {today + timedelta(days=30)}")
    assert "Noted" in reply["text"], reply
    churn.fake.fail_next("users.profile.get", status=500)
    reply = churn.command_reply("UALICE", "/review", "request EXP-1 design")
    assert "Asked <@UCAROL>" in reply["text"], reply
    posted = churn.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: "Review of the design of EXP-1" in str(c.params.get("text")),
    )
    text = str(posted[-1].params["text"])
    assert "Slack statuses could not be read (Slack answered 500)" in text
    assert "mlgov's own out-of-office records" in text


def test_a_snooze_button_is_answered_and_remembered(churn: AppUnderTest) -> None:
    churn.command_reply("UALICE", "/review", "request EXP-1 design")
    later = datetime.now(UTC) + timedelta(days=4)  # two working days at least
    run_review_reminders(churn.runtime.db, churn.runtime.dispatcher.notices, later, "UTC")
    [reminder] = churn.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "has waited on you" in str(c.params.get("text"))
    )
    assert reminder.params["channel"] == "UBOB"
    actions = [b for b in reminder.params["blocks"] if b["type"] == "actions"]
    monday = next(e for e in actions[0]["elements"] if e["action_id"] == "snooze_monday")
    result, key = churn.button("UBOB", monday["action_id"], monday["value"])
    assert result.status == 200
    [answer] = churn.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)
    assert "I'll remind you of the review of EXP-1 on Mon" in answer.params["text"]
    assert churn.count("snoozes") == 1
    # Someone the review does not wait on: refused, nothing stored.
    result, key = churn.button("UCAROL", monday["action_id"], monday["value"])
    [answer] = churn.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)
    assert "no longer waits on you" in answer.params["text"]
    assert churn.count("snoozes") == 1


def _conclude_form(churn: AppUnderTest) -> dict[str, Any]:
    """Alice starts EXP-1 and presses Conclude: the form as views.open opened it."""
    reply = churn.command_reply("UALICE", "/exp", "start EXP-1")
    assert "running" in reply["text"], reply
    churn.button("UALICE", "exp_conclude", "EXP-1")
    view: dict[str, Any] = churn.fake.wait_for("views.open")[0].params["view"]
    return view


def _submit_in_time(churn: AppUnderTest, view: dict[str, Any]) -> None:
    """Submit the conclude form; Slack wants the answer (the ack) within 3 s."""
    started = time.monotonic()
    result = churn.submit_view("UALICE", view, {"outcome": "inconclusive", "learnings": "More"})
    took = time.monotonic() - started
    assert result.status == 200 and result.body == "", result
    assert took < 3.0, f"the submission was acked after {took:.1f} s"


def _review_request(churn: AppUnderTest) -> str:
    posted = churn.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: "Review of the results of EXP-1" in str(c.params.get("text")),
    )
    return str(posted[-1].params["text"])


def test_a_form_is_acked_in_time_while_slack_statuses_are_slow_and_says_so(
    churn: AppUnderTest,
) -> None:
    back = int(time.time()) + 3 * 86400
    churn.fake.set_status("UBOB", ":palm_tree:", "back Friday", back)
    # Slack answers users.profile.get after 5 s from now on, longer than any ack may wait.
    churn.fake.delay_next("users.profile.get", 5.0, times=20)
    view = _conclude_form(churn)
    _submit_in_time(churn, view)
    text = _review_request(churn)
    assert "Slack statuses could not be read (Slack did not answer in time)" in text, text
    assert "<@UBOB>" in text  # bob, first in line, was asked: his status was not known


def test_statuses_read_when_the_form_opened_are_used_by_its_submission(
    churn: AppUnderTest,
) -> None:
    back = int(time.time()) + 3 * 86400
    churn.fake.set_status("UBOB", ":palm_tree:", "back Friday", back)
    view = _conclude_form(churn)
    # Opening the form read the scientists' statuses in the background, and stored them.
    wait_until(lambda: churn.count("slack_statuses") == 3)
    churn.fake.delay_next("users.profile.get", 5.0, times=20)  # slow from now on
    _submit_in_time(churn, view)
    text = _review_request(churn)
    assert "<@UCAROL>" in text and "<@UBOB>" not in text, text
    assert "could not be read" not in text

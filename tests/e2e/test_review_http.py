"""Peer review and the engineering gate over signed HTTP, as Slack sends it (SPEC §3).

churn in #CCHURN: alice owns EXP-1; bob and carol are the other scientists, mia the
manager, erin the engineer. Buttons carry the review id; the request message lives in the
experiment's thread and is edited in place (chat.update with its ts) as decisions arrive.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import ADMIN, AppUnderTest
from tests.fakes.slack_api import Call

APPROVE, CHANGES, DECLINE = "review_approve", "review_changes", "review_decline"
GATE_REFUSAL = "EXP-1 cannot be scheduled for engineering yet:"


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def churn(request: pytest.FixtureRequest) -> AppUnderTest:
    """On SQLite and PostgreSQL: the team, a third scientist (carol), and alice's EXP-1
    concluded a success."""
    app: AppUnderTest = request.getfixturevalue(request.param)
    app.setup_team()
    ok(app, ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    ok(
        app,
        "UALICE",
        "/exp",
        "new churn Tenure features --hypothesis tenure predicts churn"
        " --metric auc --min-delta 0.01",
    )
    ok(app, "UALICE", "/exp", "start EXP-1")
    ok(app, "UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC by 0.02")
    return app


# --- helpers ---------------------------------------------------------------------------


def ok(app: AppUnderTest, user: str, command: str, text: str) -> str:
    reply = app.command_reply(user, command, text)
    assert not reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def refused(app: AppUnderTest, user: str, command: str, text: str) -> str:
    reply = app.command_reply(user, command, text)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def press(app: AppUnderTest, user: str, action_id: str, value: str) -> dict[str, Any]:
    """Press a button; what the app answered at the response_url."""
    result, key = app.button(user, action_id, value)
    assert result.status == 200
    answered = app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)
    return answered[-1].params


def press_refused(app: AppUnderTest, user: str, action_id: str, value: str) -> str:
    answer = press(app, user, action_id, value)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert answer["text"].startswith(":warning:"), answer["text"]
    return str(answer["text"])


def thread_root(app: AppUnderTest) -> Call:
    return app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith("EXP-1 ")
    )[0]


def request_message(app: AppUnderTest, nth: int = 1) -> Call:
    """The ``nth`` review request posted for EXP-1."""
    return app.fake.wait_for(
        "chat.postMessage",
        count=nth,
        predicate=lambda c: c.params["text"].startswith("Review of the results of EXP-1"),
    )[nth - 1]


def buttons(message: Call) -> dict[str, str]:
    """action_id -> value of the message's buttons."""
    return {
        element["action_id"]: element["value"]
        for block in message.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def shown_text(message: Call) -> str:
    """The text of the message's sections, as a reader sees it."""
    return "\n".join(
        block["text"]["text"] for block in message.params["blocks"] if block["type"] == "section"
    )


def edits_of(app: AppUnderTest, message: Call, count: int = 1) -> list[Call]:
    """chat.update calls that edit ``message`` (waits for ``count`` of them)."""
    ts = message.response["ts"]
    return app.fake.wait_for("chat.update", count, predicate=lambda c: c.params.get("ts") == ts)


def in_thread(app: AppUnderTest, text: str) -> list[Call]:
    """Posts in EXP-1's thread containing ``text`` (waits for the first)."""
    root_ts = thread_root(app).response["ts"]
    return app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.params.get("thread_ts") == root_ts and text in c.params["text"],
    )


def dm_to(app: AppUnderTest, user: str) -> str:
    """The first direct message the app sent ``user``."""
    sent = app.fake.wait_for("chat.postMessage", predicate=lambda c: c.params["channel"] == user)
    return str(sent[0].params["text"])


def status(app: AppUnderTest) -> str:
    shown = ok(app, "UMIA", "/exp", "show EXP-1")  # "EXP-1 <title>: <status>[. Next steps…]"
    return shown.split(": ", 1)[1].split(".", 1)[0]


def unmet(text: str) -> list[str]:
    """The conditions a gate refusal lists, one per bullet."""
    assert GATE_REFUSAL in text, text
    return [line.removeprefix("• ") for line in text.splitlines() if line.startswith("• ")]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (work the app does after its ack) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        time.sleep(0.01)


def settle(app: AppUnderTest) -> None:
    """Wait until every stored request has run and its messages reached the fake."""
    wait_until(app.idle)


def thread_texts(app: AppUnderTest) -> list[str]:
    """What was posted in EXP-1's thread so far, oldest first."""
    root_ts = thread_root(app).response["ts"]
    return [
        c.params["text"]
        for c in app.fake.calls("chat.postMessage")
        if c.params.get("thread_ts") == root_ts
    ]


MENTION_TS = "1700000200.000100"


def mention(user: str, line: str) -> dict[str, Any]:
    """``@mlgov <line>`` typed by ``user`` in #CCHURN."""
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {line}",
        "ts": MENTION_TS,
        "channel": "CCHURN",
        "event_ts": MENTION_TS,
    }


def decided(app: AppUnderTest, action: str) -> list[tuple[str, dict[str, str]]]:
    """``/exp history EXP-1`` entries of ``action``: who, and which review and conclusion."""
    found = []
    for block in app.command_reply("UMIA", "/exp", "history EXP-1")["blocks"]:
        for line in block["text"]["text"].splitlines() if block["type"] == "section" else []:
            who, _, rest = line.partition(f"> *{action}* (")
            if rest:
                detail = dict(item.split(": ", 1) for item in rest.removesuffix(")").split("; "))
                found.append(
                    (who.rsplit("<@", 1)[1], {k: detail[k] for k in ("review", "conclusion")})
                )
    return found


def decisions(app: AppUnderTest) -> tuple[int, int]:
    return app.count("review_decisions"), app.count("audit_log")


# --- the full flow -----------------------------------------------------------------------


def test_full_flow_from_refused_gate_to_shipped(churn: AppUnderTest) -> None:
    app = churn
    # conclude asked the reviewers itself: the request is in the thread.
    request = request_message(app)
    assert request.params["channel"] == "CCHURN"
    assert request.params["thread_ts"] == thread_root(app).response["ts"]
    assert request.params["text"].endswith("Tenure features: <@UBOB>, <@UCAROL>")
    shown = shown_text(request)
    for expected in (
        "tenure predicts churn",
        "Baseline scored on the same rows",
        "⏳ <@UBOB> pending",
        "*0 of 2* approvals",
    ):
        assert expected in shown
    review_id = buttons(request)[APPROVE]
    assert buttons(request) == {APPROVE: review_id, CHANGES: review_id, DECLINE: review_id}
    for reviewer in ("UBOB", "UCAROL"):
        assert dm_to(app, reviewer).startswith(
            "👀 <@UALICE> asks you to review the results of *EXP-1*"
        )

    # Requested, not approved: the gate now counts approvals.
    assert unmet(refused(app, "UERIN", "/exp", "schedule EXP-1")) == [
        "0 of 2 approvals from scientists other than the owner",
        "EXP-1 is in_review, not approved",
    ]

    answer = press(app, "UBOB", APPROVE, review_id)
    assert answer["text"] == "Approved *EXP-1* (1 of 2 approvals; it is in_review)."
    assert answer["response_type"] == "ephemeral"
    assert "*1 of 2* approvals" in shown_text(edits_of(app, request)[0])
    in_thread(app, "<@UBOB> approved *EXP-1* (1 of 2 approvals)")
    assert unmet(refused(app, "UERIN", "/exp", "schedule EXP-1")) == [
        "1 of 2 approvals from scientists other than the owner",
        "EXP-1 is in_review, not approved",
    ]

    approved = ok(app, "UCAROL", "/review", "approve EXP-1 clean split, good baseline")
    assert approved == "Approved *EXP-1* (2 of 2 approvals; it is approved)."
    assert "*2 of 2* approvals" in shown_text(edits_of(app, request, 2)[-1])
    note = in_thread(app, "<@UCAROL> approved *EXP-1*")[0].params["text"]
    assert "> clean split, good baseline" in note and note.endswith("Now approved.")
    assert status(app) == "approved"

    scheduled = ok(app, "UERIN", "/exp", "schedule EXP-1 sprint 12")
    assert scheduled.startswith("EXP-1: approved → scheduled. Engineering may start.")
    assert ok(app, "UERIN", "/exp", "ship EXP-1").startswith("EXP-1: scheduled → shipped")
    history = app.command_reply("UMIA", "/exp", "history EXP-1")
    steps = "review_approved; accept_results approved; schedule scheduled; ship shipped"
    assert history["text"].endswith(steps)
    trail = json.dumps(history["blocks"], ensure_ascii=False)
    # (detail keys come back in another order from PostgreSQL's JSONB)
    scheduled = next(line for line in trail.split("\\n") if "*schedule*" in line)
    assert "<@UERIN> *schedule* approved → scheduled (" in scheduled
    assert "note: sprint 12" in scheduled and "conclusion: 1" in scheduled
    assert decided(app, "review_approved") == [
        ("UBOB", {"review": review_id, "conclusion": "1"}),
        ("UCAROL", {"review": review_id, "conclusion": "1"}),
    ]


def test_the_request_message_shows_who_decided_and_drops_its_buttons_when_closed(
    churn: AppUnderTest,
) -> None:
    app = churn
    request = request_message(app)  # conclude asked bob and carol
    review_id = buttons(request)[APPROVE]
    press(app, "UBOB", APPROVE, review_id)
    after_bob = shown_text(edits_of(app, request)[0])
    assert "✅ <@UBOB> approved\n⏳ <@UCAROL> pending\n*1 of 2* approvals" in after_bob
    press(app, "UCAROL", APPROVE, review_id)
    final = edits_of(app, request, 2)[-1]
    assert "✅ <@UCAROL> approved\n*2 of 2* approvals · review closed" in shown_text(final)
    assert not buttons(final)  # a closed review offers nothing to press


# --- who may decide ----------------------------------------------------------------------


def test_the_owner_and_non_scientists_are_refused_and_nothing_changes(
    churn: AppUnderTest,
) -> None:
    app = churn
    review_id = buttons(request_message(app))[APPROVE]  # asked by conclude
    before = decisions(app)

    assert "You cannot review your own experiment." in press_refused(
        app, "UALICE", APPROVE, review_id
    )
    assert "You cannot review your own experiment." in refused(
        app, "UALICE", "/review", "approve EXP-1 trust me"
    )
    assert "Only scientists of churn review experiments." in press_refused(
        app, "UERIN", APPROVE, review_id
    )
    # The change form is not even opened for someone who may not review.
    assert "You cannot review your own experiment." in press_refused(
        app, "UALICE", CHANGES, review_id
    )
    assert app.fake.calls("views.open") == []
    assert "not on project churn" in press_refused(app, "UZOE", APPROVE, review_id)

    assert decisions(app) == before
    assert status(app) == "in_review"
    settle(app)
    edited = request_message(app).response["ts"]
    assert not [c for c in app.fake.calls("chat.update") if c.params.get("ts") == edited]


def test_a_button_on_a_superseded_request_says_so_and_changes_nothing(
    churn: AppUnderTest,
) -> None:
    app = churn
    old = buttons(request_message(app))[APPROVE]  # the request conclude made
    ok(app, "UALICE", "/review", "request EXP-1 <@UCAROL|carol>")
    new = buttons(request_message(app, 2))[APPROVE]
    assert new != old
    before = decisions(app)
    for action in (APPROVE, CHANGES, DECLINE):
        text = press_refused(app, "UBOB", action, old)
        assert "closed or was superseded by a newer request" in text
    assert decisions(app) == before
    assert app.fake.calls("views.open") == []
    # The newer request works, and the one who was asked there decides.
    assert "1 of 2 approvals" in press(app, "UCAROL", APPROVE, new)["text"]


# --- duplicates count once -----------------------------------------------------------


@pytest.fixture
def mentions(churn: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each @mlgov delivery returned (True: it did the work; False: a repeat)."""
    dispatcher = churn.runtime.dispatcher
    handled: list[bool] = []
    lock = threading.Lock()
    original = dispatcher.mention

    def recording(*args: Any, **kwargs: Any) -> bool:
        result = original(*args, **kwargs)
        with lock:
            handled.append(result)
        return result

    monkeypatch.setattr(dispatcher, "mention", recording)
    return handled


def test_double_click_and_a_mention_delivered_three_times_count_once(
    churn: AppUnderTest, mentions: list[bool]
) -> None:
    app = churn
    review_id = buttons(request_message(app))[APPROVE]

    first = press(app, "UBOB", APPROVE, review_id)
    second = press(app, "UBOB", APPROVE, review_id)
    assert first["text"] == "Approved *EXP-1* (1 of 2 approvals; it is in_review)."
    # The second press changes nothing, and says so rather than "Approved" again.
    assert second["text"] == (
        "You already approved *EXP-1*: nothing changes (1 of 2 approvals; it is in_review)."
    )
    assert status(app) == "in_review"

    event = mention("UCAROL", "review approve EXP-1")
    results = [
        app.event(event, "EvReview1"),
        app.event(event, "EvReview1", retry=1),
        app.event(event, "EvReview1", retry=2),
    ]
    assert [r.status for r in results] == [200, 200, 200]
    # The inbox keeps one row per event id: the redeliveries are acked and run nothing.
    wait_until(lambda: len(mentions) == 1)
    settle(app)
    assert mentions == [True]
    replies = [
        c for c in app.fake.calls("chat.postMessage") if c.params.get("thread_ts") == MENTION_TS
    ]
    assert [c.params["text"] for c in replies] == [
        "Approved *EXP-1* (2 of 2 approvals; it is approved)."
    ]
    assert app.fake.calls("chat.postEphemeral") == []  # no "already closed" for the repeats
    approvals = [text for text in thread_texts(app) if text.startswith("<@UCAROL> approved")]
    assert len(approvals) == 1 and approvals[0].endswith("Now approved.")
    assert status(app) == "approved"


def test_a_double_click_is_announced_and_audited_once(churn: AppUnderTest) -> None:
    app = churn
    review_id = buttons(request_message(app))[APPROVE]
    press(app, "UBOB", APPROVE, review_id)
    press(app, "UBOB", APPROVE, review_id)
    settle(app)
    assert len([t for t in thread_texts(app) if t.startswith("<@UBOB> approved")]) == 1
    history = app.command_reply("UMIA", "/exp", "history EXP-1")["text"]
    assert history.count("review_approved") == 1


# --- request changes -----------------------------------------------------------------------


def test_change_request_form_validates_then_closes_the_gate_until_the_new_results_pass(
    churn: AppUnderTest,
) -> None:
    app = churn
    request = request_message(app)
    review_id = buttons(request)[APPROVE]
    press(app, "UCAROL", APPROVE, review_id)

    result, _ = app.button("UBOB", CHANGES, review_id)
    assert result.status == 200
    view = app.fake.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == "review_changes"
    assert view["private_metadata"] == f"EXP-1:{review_id}"
    before = decisions(app)
    empty = app.submit_view("UBOB", view, {"reason": ""})
    assert empty.status == 200
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"reason": "Say what should change: the owner needs the reason."},
    }
    assert decisions(app) == before and status(app) == "in_review"

    done = app.submit_view("UBOB", view, {"reason": "The baseline saw the test rows."})
    assert done.status == 200 and done.body == ""
    note = in_thread(app, "<@UBOB> requested changes to *EXP-1*")[0].params["text"]
    assert "> The baseline saw the test rows." in note and note.endswith("Now analyzing.")
    edits_of(app, request, 2)  # the request message follows
    assert status(app) == "analyzing"
    assert unmet(refused(app, "UERIN", "/exp", "schedule EXP-1")) == [
        "1 of 2 approvals from scientists other than the owner",
        "an open change request (<@UBOB>): conclude again and re-request",
        "EXP-1 is analyzing, not approved",
    ]

    # New results: concluding again opens a new review; carol's approval of the old ones
    # no longer counts, and bob's change request belongs to the old review.
    ok(app, "UALICE", "/exp", "conclude EXP-1 success rescored the baseline on held-out rows")
    second = request_message(app, 2)
    new_id = buttons(second)[APPROVE]
    assert unmet(refused(app, "UERIN", "/exp", "schedule EXP-1")) == [
        "0 of 2 approvals from scientists other than the owner",
        "EXP-1 is in_review, not approved",
    ]
    assert "1 of 2" in press(app, "UBOB", APPROVE, new_id)["text"]
    assert "2 of 2" in press(app, "UCAROL", APPROVE, new_id)["text"]
    assert status(app) == "approved"
    assert "approved → scheduled" in ok(app, "UERIN", "/exp", "schedule EXP-1")
    # Each decision says which review and which conclusion it was about.
    assert decided(app, "review_approved") == [
        ("UCAROL", {"review": review_id, "conclusion": "1"}),
        ("UBOB", {"review": new_id, "conclusion": "2"}),
        ("UCAROL", {"review": new_id, "conclusion": "2"}),
    ]

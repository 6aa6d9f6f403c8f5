"""Slack's edge cases over real HTTP (SPEC §9): an edited mention is not a new command,
a Slack Connect member's form counts in the installing workspace, and a users.info that
fails is said plainly instead of passing for "not an admin"."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.edits import NOT_RERUN
from tests.e2e.harness import ADMIN, TEAM, AppUnderTest

COULD_NOT_ASK = "I could not ask Slack whether you are a workspace admin"
TS = "1700000100.000100"


def mention(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "UALICE",
        "text": f"<@UBOT> {text}",
        "ts": TS,
        "channel": "CCHURN",
        "event_ts": TS,
        **extra,
    }


# --- edited mentions --------------------------------------------------------------------


def test_an_edited_mention_is_not_run_again_and_the_editor_is_told(app: AppUnderTest) -> None:
    app.setup_team()
    assert app.event(mention("exp new churn Tenure --hypothesis h"), "Ev0NEW").status == 200
    created = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == TS
    )
    assert "Created *EXP-1*" in created[0].params["text"]

    # Slack sends the edit as a new app_mention: a new event id, the same ts, `edited`.
    edited = mention(
        "exp new churn Tenure, fixed --hypothesis h",
        edited={"user": "UALICE", "ts": "1700000160.000200"},
    )
    assert app.event(edited, "Ev0EDIT").status == 200
    told = app.fake.wait_for(
        "chat.postEphemeral", predicate=lambda c: NOT_RERUN in c.params["text"]
    )
    assert told[0].params["user"] == "UALICE" and told[0].params["thread_ts"] == TS
    assert app.count("experiments") == 1
    assert app.count("processed_events") == 2  # each event id answered once


def test_a_message_changed_event_is_not_a_command(app: AppUnderTest) -> None:
    app.setup_team()
    changed = mention("exp new churn Changed --hypothesis h", subtype="message_changed")
    assert app.event(changed, "Ev0CHANGED").status == 200
    app.fake.wait_for("chat.postEphemeral", predicate=lambda c: NOT_RERUN in c.params["text"])
    assert app.count("experiments") == 0


# --- Slack Connect ----------------------------------------------------------------------


def test_a_slack_connect_member_concludes_by_form_in_the_installing_workspace(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    app.command_reply(ADMIN, "/mlgov", "member add <@UEXT> scientist churn")
    app.command_reply("UEXT", "/exp", "new churn Shared work --hypothesis h --metric auc")
    app.command_reply("UEXT", "/exp", "start EXP-1")
    app.button("UEXT", "exp_conclude", "EXP-1")
    view = app.fake.wait_for("views.open")[0].params["view"]
    # Submitted from the member's own workspace: team.id is theirs, the view says ours.
    result = app.submit_view(
        "UEXT",
        view,
        {"outcome": "inconclusive", "learnings": "Needs more data"},
        team="TEXTERNAL",
        installed_team=TEAM,
    )
    assert result.status == 200 and result.body == "", result
    history = app.command_reply("UEXT", "/exp", "history EXP-1")["text"]
    assert "conclude in_review" in history


# --- users.info failing -----------------------------------------------------------------


def add_fraud(app: AppUnderTest, user: str) -> str:
    return str(app.command_reply(user, "/mlgov", "project add fraud <#CFRAUD|fraud>")["text"])


def users_info_calls(app: AppUnderTest, user: str) -> int:
    return len([c for c in app.fake.calls("users.info") if c.params.get("user") == user])


def test_a_failed_admin_check_is_said_plainly_and_not_cached(app: AppUnderTest) -> None:
    app.fake.fail_next("users.info", status=503)
    answer = add_fraud(app, "UNEW")
    assert COULD_NOT_ASK in answer and "Slack answered 503" in answer and "again" in answer
    assert "Only an admin" not in answer
    assert app.count("projects") == 0

    app.fake.error_next("users.info", "ratelimited")
    assert "(Slack said ratelimited)" in add_fraud(app, "UNEW")

    # Slack answers again: the failures were not remembered, the answer now is.
    app.fake.users["UNEW"] = {"is_admin": True}
    assert "Project *fraud* created" in add_fraud(app, "UNEW")
    assert users_info_calls(app, "UNEW") == 3
    app.command_reply("UNEW", "/mlgov", "rules fraud quorum=1")
    assert users_info_calls(app, "UNEW") == 3


def test_a_real_no_is_still_a_refusal(app: AppUnderTest) -> None:
    assert "Only an admin or a workspace manager can add projects" in add_fraud(app, "UBOB")
    assert app.count("projects") == 0


def test_a_failed_admin_check_does_not_block_what_needs_no_admin(app: AppUnderTest) -> None:
    app.setup_team()
    app.fake.fail_next("users.info", status=500)
    shown = app.command_reply("UBOB", "/mlgov", "project show churn")
    assert COULD_NOT_ASK not in json.dumps(shown) and "churn" in shown["text"]


def test_a_mention_that_needed_the_failed_admin_check_says_so(app: AppUnderTest) -> None:
    app.setup_team()
    app.fake.error_next("users.info", "internal_error")
    add = mention("mlgov project add fraud <#CFRAUD|fraud>", user="UBOB")
    assert app.event(add, "Ev0ADMIN").status == 200
    answer = app.fake.wait_for(
        "chat.postEphemeral", predicate=lambda c: c.params.get("thread_ts") == TS
    )[0]
    assert answer.params["user"] == "UBOB" and COULD_NOT_ASK in answer.params["text"]
    assert app.count("projects") == 1

"""A first end-to-end pass: set up a project, create and start an experiment over HTTP."""

from __future__ import annotations

from tests.e2e.harness import ADMIN, AppUnderTest


def test_project_member_and_experiment_flow(app: AppUnderTest) -> None:
    reply = app.command_reply(ADMIN, "/mlgov", "project add churn <#CCHURN|churn>")
    assert "Project *churn* created" in reply["text"]
    reply = app.command_reply(ADMIN, "/mlgov", "member add <@UALICE|alice> scientist churn")
    assert "now scientist" in reply["text"]
    reply = app.command_reply("UALICE", "/exp", "new churn Tenure features --metric auc")
    assert "Created *EXP-1*" in reply["text"]
    assert reply["response_type"] == "ephemeral"
    root = app.fake.wait_for("chat.postMessage", predicate=lambda c: "EXP-1" in c.params["text"])
    assert root[0].params["channel"] == "CCHURN"
    reply = app.command_reply("UALICE", "/exp", "start EXP-1")
    assert "proposed → running" in reply["text"]
    started = app.fake.wait_for("chat.postMessage",
                                predicate=lambda c: "started" in c.params["text"])
    assert started[0].params["thread_ts"] == root[0].response["ts"]

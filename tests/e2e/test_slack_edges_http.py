"""Slack's edge cases end to end: an uninstall pauses a workspace until its token works
again, and a 429 holds one method of one workspace (the real app, the fake Web API)."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.model import OutgoingMessage
from storage.models import OutboxHoldRow
from tests.e2e.harness import ADMIN, TEAM, AppUnderTest

OTHER = "T2"
REFUSED = {"ok": False, "error": "invalid_auth"}


def _posted(app: AppUnderTest, prefix: str) -> list[str]:
    return [
        c.params["channel"]
        for c in app.fake.calls("chat.postMessage")
        if c.status == 200 and str(c.params.get("text", "")).startswith(prefix)
    ]


def test_an_uninstall_holds_the_workspaces_messages_until_it_is_reinstalled(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    app.fake.wait_for("chat.postMessage")  # the project intro
    app.fake.answer("auth.test", REFUSED)  # uninstalling revokes the bot token

    assert app.event({"type": "app_uninstalled"}, "EvUninstalled").status == 200
    reply = app.command_reply("UALICE", "/exp", "new churn While away --hypothesis h --metric auc")
    assert "EXP-1" in reply["text"]  # the command itself still works
    # Two more looks of the outbox (each asks whether the token works again) send nothing.
    probes = len(app.fake.calls("auth.test"))
    app.fake.wait_for("auth.test", count=probes + 2)
    assert _posted(app, "EXP-1") == []
    assert app.count("outbox WHERE sent_at IS NULL AND NOT dead") >= 1
    assert app.count("experiments") == 1 and app.count("projects") == 1  # data is kept
    assert app.count("audit_log WHERE action = 'workspace_paused'") == 1

    # Reinstalled: Slack accepts the (new) token for the workspace again.
    app.fake.answer("auth.test", {"ok": True, "team_id": TEAM, "user_id": "UBOT"})
    app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.status == 200 and c.params["text"].startswith("EXP-1"),
    )
    assert app.count("audit_log WHERE action = 'workspace_resumed'") == 1


def test_a_429_holds_that_method_of_that_workspace_while_the_rest_goes_out(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn Posted --hypothesis h --metric auc")
    root = app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.status == 200 and c.params["text"].startswith("EXP-1"),
    )[0]
    # Team A's next post (another project's intro) meets a 429 with Retry-After: 5.
    app.fake.fail_next("chat.postMessage", status=429, retry_after=5, channel="CADS")
    app.command_reply(ADMIN, "/mlgov", "project add ads <#CADS|ads>")
    limited = app.fake.wait_for("chat.postMessage", predicate=lambda c: c.status == 429)[0]

    # Meanwhile: team A updates a message and posts elsewhere; team B posts.
    with app.runtime.db.write() as uow:
        update = {"channel": "CCHURN", "text": "EXP-1 updated", "ts": root.response["ts"]}
        uow.outbox.add(OutgoingMessage(TEAM, "CCHURN", "chat.update", update), app.runtime.clock())
        uow.commit()
    app.command_reply("UALICE", "/exp", "new churn Waits --hypothesis h --metric auc")
    app.command_reply(ADMIN, "/mlgov", "project add beta <#CBETA|beta>", team=OTHER)

    app.fake.wait_for("chat.update", predicate=lambda c: c.params["text"] == "EXP-1 updated")
    app.fake.wait_for("chat.postMessage", predicate=lambda c: c.params["channel"] == "CBETA")
    # Team A's posts: none tried while held; both go out once Retry-After has passed.
    app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.status == 200 and c.params["text"].startswith("EXP-2"),
        timeout=20,
    )
    calls = app.fake.calls()
    after = calls[calls.index(limited) + 1 :]
    order = [
        "update" if c.method == "chat.update" else c.params.get("channel")
        for c in after
        if c.method in ("chat.update", "chat.postMessage")
    ]
    first_a = min(order.index("CADS"), order.index("CCHURN"))
    assert order.index("update") < first_a and order.index("CBETA") < first_a, order
    assert [
        c.status for c in app.fake.calls("chat.postMessage") if c.params["channel"] == "CADS"
    ] == [
        429,
        200,
    ]
    with app.runtime.db.read() as uow:
        [hold] = uow.session.scalars(select(OutboxHoldRow)).all()
        assert (hold.team_id, hold.method) == (TEAM, "chat.postMessage")

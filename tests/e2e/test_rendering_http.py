"""What Slack shows of mlgov's messages and forms at Slack's limits, end to end over HTTP.

The fake Web API refuses what Slack refuses (tests/fakes/block_kit.py): a message over 50
blocks or a section over 3,000 characters, a menu of more than 100 options. So a message
or form that reaches it here is one Slack would show.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.harness import ADMIN, AppUnderTest
from tests.fakes.slack_api import Call

NASTY = "A & B <!channel> > C "  # grows five-fold when escaped


def ok(app: AppUnderTest, user: str, command: str, text: str) -> str:
    reply = app.command_reply(user, command, text)
    assert not reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def press(app: AppUnderTest, user: str, action_id: str, value: str) -> None:
    result, key = app.button(user, action_id, value)
    assert result.status == 200
    app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def block_ids(blocks: list[dict[str, Any]]) -> set[str]:
    return {b["block_id"] for b in blocks if "block_id" in b}


def root_updates(app: AppUnderTest, count: int) -> list[Call]:
    """The accepted chat.update calls of EXP-1's thread root (waits for ``count``)."""
    return app.fake.wait_for(
        "chat.update",
        count,
        predicate=lambda c: c.params["text"].startswith("EXP-1 ") and c.response.get("ok"),
    )


# --- a long card keeps its buttons ------------------------------------------------------


def test_a_card_too_long_for_one_message_keeps_its_buttons_and_they_work(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    hypothesis = (NASTY * 200)[:2900]
    ok(app, "UALICE", "/exp", f"new churn Long card --hypothesis {hypothesis} --metric auc")
    ok(app, "UALICE", "/exp", "start EXP-1")
    for n in range(8):  # eight links of 1,500 characters: far beyond a message's ~13k
        url = f"https://notebooks.example.com/{n}/" + "x" * 1500
        ok(app, "UALICE", "/exp", f"link EXP-1 {url} notebook {n}")
    last = root_updates(app, 9)[-1]  # start, then each link, updated the root in place
    shown = json.dumps(last.params["blocks"], ensure_ascii=False)
    assert action_ids(last.params["blocks"]) == ["exp_analyze", "exp_conclude", "exp_abandon"]
    assert "cut to fit in one Slack message" in shown
    assert "narrow the query" not in shown  # a thread root is not the answer to a query
    assert "&amp;" in shown and "<!channel>" not in shown
    card = app.command_reply("UALICE", "/exp", "show EXP-1")
    assert action_ids(card["blocks"]) == ["exp_analyze", "exp_conclude", "exp_abandon"]
    press(app, "UALICE", "exp_analyze", "EXP-1")  # the cut card's button still works
    assert "analyzing" in ok(app, "UALICE", "/exp", "show EXP-1")


# --- a fresh block_id on each update ----------------------------------------------------


def test_each_update_of_a_message_has_new_block_ids_and_the_same_buttons(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    ok(app, ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    ok(app, "UALICE", "/exp", "new churn Fresh ids --hypothesis h --metric auc")
    ok(app, "UALICE", "/exp", "start EXP-1")
    ok(app, "UALICE", "/exp", "conclude EXP-1 success it worked")
    request = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith("Review of")
    )[0]
    buttons = [e for b in request.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    review_id = buttons[0]["value"]
    seen = [block_ids(request.params["blocks"])]
    for reviewer, count in (("UBOB", 1), ("UCAROL", 2)):
        press(app, reviewer, "review_approve", review_id)
        edit = app.fake.wait_for(
            "chat.update",
            count,
            predicate=lambda c: c.params.get("ts") == request.response["ts"],
        )[-1]
        if count == 1:  # still open: the same buttons, under new block ids
            assert action_ids(edit.params["blocks"]) == action_ids(request.params["blocks"])
        seen.append(block_ids(edit.params["blocks"]))
    assert seen[0] and seen[1]
    assert seen[0].isdisjoint(seen[1]), "an update reused the posted message's block_id"
    # The thread root too: posted, then updated at start and at conclude.
    root = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith("EXP-1 ")
    )[0]
    updates = [u.params["blocks"] for u in root_updates(app, 2)]
    ids = [block_ids(root.params["blocks"]), *(block_ids(u) for u in updates)]
    every = [i for group in ids for i in group]
    assert len(every) == len(set(every)), "a root update reused a block_id"


# --- more than 100 projects in the /exp new form ---------------------------------------


def test_the_new_experiment_form_offers_all_of_150_projects(app: AppUnderTest) -> None:
    slugs = [f"p{n:03d}" for n in range(150)]
    for slug in slugs:
        ok(app, ADMIN, "/mlgov", f"project add {slug} <#C{slug.upper()}|{slug}>")
    ok(app, ADMIN, "/mlgov", "member add <@UALICE> scientist")  # on every project
    assert app.command("UALICE", "/exp", "").status == 200
    opened = app.fake.wait_for("views.open")[0]
    assert opened.response["ok"], opened.response  # Slack would refuse > 100 options
    view = opened.params["view"]
    menu = next(b for b in view["blocks"] if b["block_id"] == "project")["element"]
    offered = [o["value"] for g in menu["option_groups"] for o in g["options"]]
    assert offered == slugs
    result = app.submit_view(
        "UALICE",
        view,
        {"project": "p149", "title": "Beyond the hundredth", "hypothesis": "h", "stream": "main"},
    )
    assert result.status == 200 and result.body == ""
    shown = app.command_reply("UALICE", "/exp", "show EXP-1")
    assert "Beyond the hundredth" in shown["text"]
    assert "p149" in json.dumps(shown["blocks"])

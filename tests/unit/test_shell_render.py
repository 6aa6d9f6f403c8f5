"""The shell's text rendering of Block Kit, and its writing of typed mentions as Slack's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.domain.model import ProjectRules
from bot.shell.buttons import Board, Message
from bot.shell.directory import to_slack_text
from bot.shell.ids import channel_id_for, name_from_id
from bot.shell.local_slack import LocalSlack
from bot.shell.render import BOLD, RESET, Button, Names, Renderer
from bot.slack.blocks.team import rules

NAMES = Names(users={"U123": "grace"}, channels={"C9": "ml-churn"})
plain = Renderer(NAMES)


@pytest.mark.parametrize(
    ("mrkdwn", "shown"),
    [
        ("<@U123> started it", "@grace started it"),
        ("<@U123|oldname> started it", "@grace started it"),  # the directory wins
        ("<@UALICE>", "@alice"),  # an id nobody named reads back as the shell's name
        ("in <#C9> and <#CFRAUD|fraud>", "in #ml-churn and #fraud"),
        # A channel the directory does not know: the name Slack wrote, else the shell's.
        ("<#C1ABC|ml-x> and <#C06D6C2D78>", "#ml-x and #ml-x"),
        ("&lt;#C06D6C5F78&gt; typed", "#ml_x typed"),
        ("<https://example.com/nb|the notebook>", "the notebook (https://example.com/nb)"),
        ("<https://example.com/a_b_c>", "https://example.com/a_b_c"),
        ("<https://x.io|https://x.io>", "https://x.io"),
        ("<!here> look", "@here look"),
        ("<!date^1700000000^{date}|Nov 14>", "Nov 14"),
        ("*Status:* running", "Status: running"),
        ("_none written yet_", "none written yet"),
        ("in_review and log_loss stay", "in_review and log_loss stay"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("`/exp new <project> <title>`", "/exp new <project> <title>"),
        ("usage: /exp show <key>", "usage: /exp show <key>"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("&lt;@UBOB|bob&gt; said so", "@bob said so"),  # a mention typed into free text
        (":warning: careful", "⚠️ careful"),
        (":unknown_code: stays", ":unknown_code: stays"),
        ("*bold with <@U123>*", "bold with @grace"),
        ("```\nline one\nline *two*\n```", "    line one\n    line *two*"),
    ],
)
def test_mrkdwn_reads_as_plain_text(mrkdwn: str, shown: str) -> None:
    assert plain.mrkdwn(mrkdwn) == shown


def test_colour_makes_bold_bold() -> None:
    assert Renderer(NAMES, color=True).mrkdwn("*Owner:* x") == f"{BOLD}Owner:{RESET} x"


def _button(text: str, action: str, value: str = "EXP-1") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action,
        "value": value,
    }


def test_a_message_renders_in_reading_order_with_buttons_numbered_across_it() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "EXP-1 · Title"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Owner:* <@U123>"},
            "accessory": _button("Open", "open"),
        },
        {"type": "divider"},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "*a*"}, {"type": "plain_text", "text": "b"}],
        },
        {
            "type": "actions",
            "elements": [_button("Start", "exp_start"), _button("Abandon…", "exp_abandon")],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Next: _start_"}]},
        {"type": "image", "image_url": "https://x.io/c.png", "alt_text": "ROC chart"},
        {"type": "rich_text", "elements": []},  # unknown to the shell: skipped
    ]
    rendered = plain.blocks(blocks, "fallback")
    assert rendered.text.splitlines() == [
        "EXP-1 · Title",
        "─────────────",
        "Owner: @grace",
        "[1] Open",
        "─" * 40,
        "a",
        "b",
        "[2] Start  [3] Abandon…",
        "Next: start",
        "[image: ROC chart]",
    ]
    assert [(b.number, b.label, b.action_id, b.value) for b in rendered.buttons] == [
        (1, "Open", "open", "EXP-1"),
        (2, "Start", "exp_start", "EXP-1"),
        (3, "Abandon…", "exp_abandon", "EXP-1"),
    ]


def test_without_blocks_the_fallback_text_is_shown() -> None:
    rendered = plain.blocks([], "*Created* EXP-2 for <@U123>")
    assert rendered.text == "Created EXP-2 for @grace"
    assert rendered.buttons == ()


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("member add @alice scientist churn", "member add <@UALICE|alice> scientist churn"),
        ("project add churn #Churn", "project add churn <#CCHURN|churn>"),
        ("list @UALICE", "list <@UALICE>"),  # already an id
        ("ping @bob, @carol.", "ping <@UBOB|bob>, <@UCAROL|carol>."),
        ("mail alice@example.com", "mail alice@example.com"),
        ("@mary-jane and #ml-x.", "@mary-jane and <#C06D6C2D78|ml-x>."),  # no user name
        ("digest_channel=#ml_leads", "digest_channel=<#C06D6C5F6C65616473|ml_leads>"),
        ("fixes #12 and @1bad, #ml- or #-x", "fixes #12 and @1bad, #ml- or #-x"),
        ("<@UBOB> already escaped", "<@UBOB> already escaped"),
    ],
)
def test_typed_mentions_are_sent_as_slack_sends_them(typed: str, sent: str) -> None:
    assert to_slack_text(typed) == sent


# --- what the outbox posts, as the shell prints it --------------------------------------


def _ignore(text: str) -> None:
    pass


def _printed(*calls: tuple[str, dict[str, Any]]) -> list[str]:
    shown: list[str] = []
    slack = LocalSlack(shown.append, lambda: NAMES)
    for method, payload in calls:
        assert slack.call(method, payload)["ok"] is True
    return shown


def test_a_message_to_a_user_id_or_an_opened_dm_reads_as_a_direct_message() -> None:
    opened = LocalSlack(_ignore, lambda: NAMES).call("conversations.open", {"users": "U123"})
    assert _printed(
        ("chat.postMessage", {"channel": "U123", "text": "*EXP-2* is idle, <@U123>"}),
        ("chat.postMessage", {"channel": opened["channel"]["id"], "text": "again"}),
        ("chat.postMessage", {"channel": "UBOB", "text": "line one\nline two"}),
    ) == [
        "  [DM → @grace] EXP-2 is idle, @grace",
        "  [DM → @grace] again",
        "  [DM → @bob] line one\n              line two",
    ]


def test_a_post_with_blocks_shows_them_unless_it_is_an_experiment_card() -> None:
    announcement: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Science review"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Presenter:* <@U123>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "• *EXP-1* Title: in review"}},
    ]
    card = [{"type": "section", "text": {"type": "mrkdwn", "text": "the whole card"}}]
    shown = _printed(
        ("chat.postMessage", {"channel": "C9", "text": "Review: <@U123>", "blocks": announcement}),
        ("chat.postMessage", {"channel": "C9", "text": "EXP-4 Title — proposed", "blocks": card}),
    )
    assert shown[0].splitlines() == [
        "  [#ml-churn] Science review",
        "              ──────────────",
        "              Presenter: @grace",
        "              • EXP-1 Title: in review",
    ]
    assert shown[1] == "  [#ml-churn › new thread EXP-4] EXP-4 Title — proposed"


def test_a_quiet_local_slack_prints_nothing_but_still_answers() -> None:
    shown: list[str] = []
    slack = LocalSlack(shown.append, lambda: NAMES)
    slack.quiet = True
    answer = slack.call("chat.postMessage", {"channel": "U123", "text": "hi"})
    assert answer["ok"] is True and answer["ts"]
    assert shown == []


@pytest.mark.parametrize("name", ["churn", "ml-leads", "data_eng", "a", "x1-y_2"])
def test_channel_ids_read_back_as_their_names(name: str) -> None:
    made = channel_id_for(name)
    assert re.fullmatch(r"C[A-Z0-9]+", made)
    assert name_from_id(made) == name


def test_a_real_slack_channel_id_is_not_taken_for_a_spelt_name() -> None:
    assert name_from_id("C0ABC123") == "0abc123"
    assert channel_id_for("churn") == "CCHURN"  # ids of earlier sessions stay valid


def test_a_rule_naming_a_channel_shows_it_as_a_link_not_an_id() -> None:
    text = rules("churn", ProjectRules(digest_channel="CLEADS"), True).text
    assert "`digest_channel=`<#CLEADS>" in text
    shown = plain.mrkdwn(text)
    assert shown.endswith("digest_channel=#leads  digest_time=mon 08:00  mlflow_model=none")


def test_an_edit_of_a_posted_message_shows_but_a_thread_root_update_does_not() -> None:
    shown: list[str] = []
    slack = LocalSlack(shown.append, lambda: NAMES)
    card = [{"type": "section", "text": {"type": "mrkdwn", "text": "card"}}]
    root = slack.call("chat.postMessage", {"channel": "C9", "text": "EXP-4 T", "blocks": card})
    reply = {"channel": "C9", "thread_ts": root["ts"], "text": "computing…"}
    posted = slack.call("chat.postMessage", reply)
    slack.call("chat.update", {"channel": "C9", "ts": root["ts"], "text": "EXP-4 T — running"})
    slack.call("chat.update", {"channel": "C9", "ts": posted["ts"], "text": "*done*"})
    assert shown == [
        "  [#ml-churn › new thread EXP-4] EXP-4 T",
        "  [#ml-churn › EXP-4 thread] computing…",
        "  [#ml-churn › EXP-4 thread] (edited) done",
    ]


def test_message_timestamps_increase_across_sessions() -> None:
    first = LocalSlack(_ignore, lambda: NAMES)
    stamps = [first.ts() for _ in range(3)]
    stamps.append(LocalSlack(_ignore, lambda: NAMES).ts())
    assert [float(t) for t in stamps] == sorted({float(t) for t in stamps})


def test_buttons_of_a_channel_post_number_on_from_the_reply_and_restart_with_a_new_line() -> None:
    board = Board()
    slack = LocalSlack(_ignore, lambda: NAMES, board=board)
    reply = [Button(1, "Start", "exp_start", "EXP-1")]
    board.new_line()
    board.add(reply, Message("the reply to @grace", "EXP-1", "U123"))
    request = {
        "channel": "C9",
        "text": "Review",
        "blocks": [{"type": "actions", "elements": [_button("Approve", "review_approve", "7")]}],
    }
    slack.call("chat.postMessage", request)
    slack.call("chat.postMessage", {**request, "channel": "U123"})  # a DM: grace's alone
    numbered = [(n, board.get(n)) for n in (1, 2, 3)]
    assert [(n, p.button.label, p.message.where) for n, p in numbered if p] == [
        (1, "Start", "the reply to @grace"),
        (2, "Approve", "#ml-churn"),
        (3, "Approve", "DM → @grace"),
    ]
    assert [p.button.number for p in board.visible_to("UBOB")] == [2]
    board.new_line()
    assert board.next_number() == 1 and board.get(3) is not None  # kept until new ones show
    slack.call("chat.postMessage", request)
    assert board.get(2) is None and board.get(1) is not None


def test_an_edit_without_buttons_takes_the_posts_buttons_away_on_screen_and_in_the_list() -> None:
    board = Board()
    slack = LocalSlack(_ignore, lambda: NAMES, board=board)
    offer = {
        "channel": "C9",
        "text": "bob can't present",
        "blocks": [{"type": "actions", "elements": [_button("Take it", "swap_take", "3")]}],
    }
    posted = slack.call("chat.postMessage", offer)
    board.new_line()  # a line typed: the Take it stays on screen until new buttons show
    slack.call("chat.update", {"channel": "C9", "ts": posted["ts"], "text": "✅ carol took it"})
    pressable = board.get(1)
    assert pressable is not None and pressable.gone  # still numbered, no longer pressable
    assert board.visible_to("UBOB") == [] and not board
    assert board.relist("UBOB") == []

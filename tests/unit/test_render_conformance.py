"""Rendering at Slack's limits: cuts keep the buttons, say what they did, never split
Slack's markup; menus of more than 100 choices; new block_ids on each message update."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.errors import UsageError
from bot.domain.model import Link, Project, ProjectRules, Status
from bot.domain.review import Assignment, Decision, Review, ReviewKind
from bot.shell.forms import Field
from bot.slack.blocks import CUT_TO_FIT, MAX_BLOCK_CHARS, Reply, clip, escape, escaped
from bot.slack.blocks import experiments as render
from bot.slack.blocks import reviews as review_render
from bot.slack.blocks.forms import new_experiment_form
from bot.slack.notices import SlackNotices
from bot.slack.parsing import parse_upload
from tests.fakes.block_kit import message_problems, view_problems
from tests.unit.test_blocks_limits import AT, NASTY, assert_within_slack_limits, experiment

PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENTITY = re.compile(r"&(amp|lt|gt);")


def valid_mrkdwn(text: str) -> bool:
    """Every ``&`` starts a whole entity and every ``<`` is closed by a ``>`` after it."""
    if any(not ENTITY.match(text, i) for i, c in enumerate(text) if c == "&"):
        return False
    depth = 0
    for char in text:
        if char == "<":
            if depth:
                return False
            depth = 1
        elif char == ">":
            depth = 0
    return depth == 0


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] in ("section",)]


# --- a long card keeps its buttons ------------------------------------------------------

LONG_LINKS = tuple(
    Link(f"https://notebooks.example.com/{n}/" + "x" * 1500, f"notebook {n}", "U1", AT)
    for n in range(8)
)
TOO_LONG = [
    experiment(7, hypothesis=(NASTY * 200)[:3000], learnings="l" * 3000, links=LONG_LINKS),
    experiment(7, links=LONG_LINKS * 8),  # 64 links: past 50 blocks as well as 13k
]


@pytest.mark.parametrize("e", TOO_LONG, ids=["long-text", "many-links"])
def test_a_card_too_long_for_a_message_keeps_every_button_and_says_it_was_cut(
    e: Any,
) -> None:
    whole = render.card(e)
    wanted = [el.action_id for b in whole if b.type == "actions" for el in b.elements]
    assert wanted == ["exp_analyze", "exp_conclude", "exp_abandon"]
    text, blocks = render.thread_root(e)
    assert_within_slack_limits(Reply(text=text, blocks=blocks))
    assert len(json.dumps(blocks, ensure_ascii=False)) <= MAX_BLOCK_CHARS
    assert message_problems(blocks) == []
    assert action_ids(blocks) == wanted
    shown = json.dumps(blocks, ensure_ascii=False)
    assert CUT_TO_FIT in shown and "narrow the query" not in shown
    # The cut shortens the text that did not fit instead of dropping it whole.
    assert "Hypothesis:" in shown
    shown_card = render.show(e)
    assert action_ids(shown_card.blocks) == wanted
    assert "narrow the query" not in json.dumps(shown_card.blocks, ensure_ascii=False)


def test_a_review_request_with_hundreds_of_reviewers_keeps_its_buttons() -> None:
    crowd = tuple(Assignment(f"U{n:09d}", AT) for n in range(600))
    review = Review(1, 7, ReviewKind.RESULTS, "U0123ABCDEF", AT, True, assignments=crowd)
    e = experiment(7, status=Status.IN_REVIEW, hypothesis=(NASTY * 200)[:3000])
    text, blocks = review_render.request(e, review, 2)
    assert_within_slack_limits(Reply(text=text[:4000], blocks=blocks))
    assert action_ids(blocks) == ["review_approve", "review_changes", "review_decline"]
    assert CUT_TO_FIT in json.dumps(blocks, ensure_ascii=False)


def test_a_card_that_fits_is_not_cut() -> None:
    blocks = render.thread_root(experiment(7))[1]
    assert CUT_TO_FIT not in json.dumps(blocks, ensure_ascii=False)


def test_a_long_listing_still_says_how_to_narrow_it() -> None:
    found = [experiment(n, title="t" * 200) for n in range(1, 501)]
    shown = json.dumps(render.listing(found, "all").blocks, ensure_ascii=False)
    assert "narrow" in shown  # its own note, or the one of a cut


# --- menus of more than 100 choices -----------------------------------------------------


@pytest.mark.parametrize("count", [1, 100, 101, 150, 10_000])
def test_the_project_menu_offers_every_project_within_slack_s_limits(count: int) -> None:
    slugs = [f"p{n:05d}" for n in range(count)]
    view = new_experiment_form(slugs)
    assert view_problems(view) == []
    menu = next(b for b in view["blocks"] if b["block_id"] == "project")["element"]
    groups = menu.get("option_groups") or [{"options": menu["options"]}]
    assert [o["value"] for g in groups for o in g["options"]] == slugs
    assert menu["initial_option"]["value"] == slugs[0]
    assert ("option_groups" in menu) == (count > 100)


def test_a_menu_group_is_labelled_by_its_first_and_last_choice() -> None:
    view = new_experiment_form([f"p{n:03d}" for n in range(150)])
    menu = view["blocks"][0]["element"]
    assert [g["label"]["text"] for g in menu["option_groups"]] == ["p000 … p099", "p100 … p149"]


def test_the_shell_offers_every_choice_of_a_grouped_menu() -> None:
    slugs = [f"p{n:03d}" for n in range(150)]
    field = Field.of(new_experiment_form(slugs)["blocks"][0])
    assert field.options == tuple(slugs)
    assert field.state("p149") == {
        "value": {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": "p149"}, "value": "p149"},
        }
    }


# --- a fresh block_id on each update of a message --------------------------------------


def test_each_update_of_a_message_gets_new_block_ids_and_keeps_its_action_ids() -> None:
    stamps = iter(["s1", "s2"])
    notices = SlackNotices(stamp=lambda: next(stamps))
    project = Project(1, "T1", "churn", "CCHURN", ProjectRules(), AT)
    e = experiment(7)
    posted = notices.experiment_created(e, project)[0].payload["blocks"]
    updates = [
        m.payload["blocks"]
        for _ in range(2)
        for m in notices.experiment_changed(e, project, "U1", "edited", {})
        if m.method == "chat.update"
    ]
    ids = [{b["block_id"] for b in blocks if "block_id" in b} for blocks in (posted, *updates)]
    assert all(ids) and len(set.union(*ids)) == 3  # three renders, three different ids
    assert {action_ids(blocks) == action_ids(posted) for blocks in updates} == {True}


def test_a_review_request_update_gets_new_block_ids() -> None:
    notices = SlackNotices()
    project = Project(1, "T1", "churn", "CCHURN", ProjectRules(), AT)
    e = experiment(7, status=Status.IN_REVIEW)
    review = Review(1, 7, ReviewKind.RESULTS, "U0123ABCDEF", AT, True)
    asked = notices.review_requested(e, project, review, ["UBOB"], 2)[0].payload["blocks"]
    approve = Decision("UBOB", True, AT, 1, None)  # one of two: still open, buttons stay
    updated = [
        m.payload["blocks"]
        for m in notices.review_decided(e, project, review, approve, 1, 2, None)
        if m.method == "chat.update"
    ][0]
    before = {b["block_id"] for b in asked if "block_id" in b}
    after = {b["block_id"] for b in updated if "block_id" in b}
    assert before and after and before.isdisjoint(after)
    assert action_ids(updated) == action_ids(asked)


# --- clip before escaping ---------------------------------------------------------------

RAW = st.text(alphabet=st.sampled_from("a &<>@|U1!;#é\n"), max_size=400)


@PROPERTIES
@given(RAW, st.integers(1, 500))
@example("&" * 10, 7)
@example("a<@U1|x>", 3)
def test_escaped_user_text_is_valid_and_within_the_limit(raw: str, limit: int) -> None:
    shown = escaped(raw, limit)
    assert len(shown) <= limit
    assert valid_mrkdwn(shown)
    assert raw.startswith(html.unescape(shown.removesuffix("…")))


# Our own mrkdwn: escaped user text between mentions, channels and links.
PIECES = st.one_of(
    RAW.map(escape),
    st.from_regex(r"<@U[A-Z0-9]{1,9}(\|[a-z]{1,8})?>", fullmatch=True),
    st.from_regex(r"<#C[A-Z0-9]{1,9}\|[a-z]{1,8}>", fullmatch=True),
    st.from_regex(r"<https://x\.example\.com/[a-z]{0,20}\|[a-z]{1,8}>", fullmatch=True),
)


@PROPERTIES
@given(st.lists(PIECES, max_size=12).map("".join), st.integers(1, 600))
@example("x &amp; y", 4)
@example("hi <@U123|bob>", 8)
def test_a_cut_never_splits_an_entity_or_a_mention(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert len(cut) <= limit
    assert valid_mrkdwn(cut)
    assert text.startswith(cut.removesuffix("…"))


@PROPERTIES
@given(RAW.map(lambda s: s * 20))
@example("&" * 1000)
def test_thread_messages_and_cards_with_any_text_are_valid_mrkdwn(raw: str) -> None:
    e = experiment(7, status=Status.IN_REVIEW, hypothesis=raw[:3000], learnings=raw[:3000])
    message = render.change_message(e, "U1", "conclude", {"learnings": raw})
    assert len(message) <= 3000 and valid_mrkdwn(message)
    for text in section_texts(render.thread_root(e)[1]):
        assert len(text) <= 3000 and valid_mrkdwn(text)


@pytest.mark.parametrize("typed", ["&amp;" * 20, "&lt;@U1|bob&gt;" * 10, "<!channel>" * 8])
def test_a_refusal_echoes_what_was_typed_without_splitting_it(typed: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_upload("parity", f"EXP-7 --tolerance {typed}")
    said = str(refused.value).split("\n", 1)[0]
    assert valid_mrkdwn(said), said
    assert "<!channel>" not in said

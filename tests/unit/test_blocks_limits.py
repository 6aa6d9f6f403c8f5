"""Rendered messages stay within Slack's Block Kit limits and always carry fallback text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.model import (
    AuditEntry,
    Direction,
    Experiment,
    Link,
    Outcome,
    Status,
    SuccessCriterion,
    Workstream,
)
from bot.slack.blocks import Reply, to_dicts
from bot.slack.blocks import experiments as render

AT = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
# Slack's documented limits (api.slack.com/reference/block-kit).
MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ID_LENGTH = 255
FALLBACK_TEXT = 4000  # Slack truncates messages longer than this in notifications
SANE_JSON = MAX_BLOCKS * (SECTION_TEXT + 500)
NASTY = "A & B <!channel> > C "  # grows when escaped, and must never become a mention


def experiment(
    number: int,
    *,
    title: str = "Tenure features",
    hypothesis: str = "Tenure interactions lift AUC",
    links: tuple[Link, ...] = (),
    status: Status = Status.RUNNING,
    learnings: str = "",
) -> Experiment:
    return Experiment(
        id=number,
        team_id="T1",
        number=number,
        project="churn-prediction-v2",
        title=title,
        hypothesis=hypothesis,
        owner_id="U0123ABCDEF",
        workstream=Workstream.MAIN,
        criterion=SuccessCriterion("log_loss", Direction.LOWER, 0.005),
        status=status,
        outcome=Outcome.SUCCESS if status is Status.IN_REVIEW else None,
        learnings=learnings,
        version=12,
        created_at=AT,
        updated_at=AT,
        links=links,
    )


def texts(block: dict[str, Any]) -> Iterator[str]:
    """Every text a reader sees in ``block``."""
    if isinstance(block.get("text"), dict):
        yield block["text"]["text"]
    for element in block.get("elements", []):
        if element.get("type") in ("mrkdwn", "plain_text"):
            yield element["text"]
        elif isinstance(element.get("text"), dict):
            yield element["text"]["text"]


def assert_within_slack_limits(reply: Reply) -> None:
    assert reply.text.strip(), "every message needs fallback text"
    assert len(reply.text) <= FALLBACK_TEXT
    blocks = reply.blocks
    assert 0 < len(blocks) <= MAX_BLOCKS
    for block in blocks:
        kind = block["type"]
        if kind == "section":
            assert len(block["text"]["text"]) <= SECTION_TEXT
        elif kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= HEADER_TEXT
        elif kind == "context":
            assert len(block["elements"]) <= CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= SECTION_TEXT for e in block["elements"])
        elif kind == "actions":
            assert len(block["elements"]) <= ACTIONS_ELEMENTS
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= BUTTON_TEXT
                assert len(button["value"]) <= BUTTON_VALUE
                assert len(button["action_id"]) <= ID_LENGTH
        else:
            pytest.fail(f"unexpected block type {kind}")
        assert len(block.get("block_id", "")) <= ID_LENGTH
        for text in texts(block):
            assert text.strip()
    assert len(json.dumps(blocks, ensure_ascii=False)) <= SANE_JSON


def visible(reply: Reply) -> str:
    return "\n".join(text for block in reply.blocks for text in texts(block))


def mrkdwn(reply: Reply) -> str:
    """The texts Slack formats (plain_text, as in headers, never becomes a mention)."""
    found: list[str] = []
    for block in reply.blocks:
        objects = [block.get("text"), *block.get("elements", [])]
        found += [o["text"] for o in objects if isinstance(o, dict) and o.get("type") == "mrkdwn"]
    return "\n".join(found)


def audit(n: int, detail: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(
        at=AT + timedelta(minutes=n),
        actor_id="U0123ABCDEF",
        action="link" if n % 2 else "conclude",
        experiment_key="EXP-7",
        from_status="running",
        to_status="in_review",
        detail=detail if detail is not None else {"url": f"https://nb.example.com/{n}"},
    )


# --- listing -----------------------------------------------------------------------


@pytest.mark.parametrize("title", ["Tenure features", "t" * 200, (NASTY * 10)[:200]])
def test_a_listing_of_500_experiments_stays_within_limits(title: str) -> None:
    found = [experiment(n, title=title) for n in range(1, 501)]
    reply = render.listing(found, "all")
    assert_within_slack_limits(reply)
    shown = visible(reply)
    assert "500 experiment(s)" in shown
    if "*EXP-500*" not in shown:
        assert "more not shown" in shown
    # Whole lines only: every experiment shown is shown with its status.
    for line in shown.splitlines():
        if line.startswith("*EXP-"):
            assert "running" in line


def test_a_short_listing_shows_every_experiment() -> None:
    found = [experiment(n) for n in range(1, 21)]
    reply = render.listing(found, "mine")
    assert_within_slack_limits(reply)
    for n in range(1, 21):
        assert f"*EXP-{n}*" in visible(reply)
        assert f"EXP-{n} " in reply.text


def test_an_empty_listing_still_says_something() -> None:
    reply = render.listing([], "status running")
    assert_within_slack_limits(reply)
    assert "No experiments" in reply.text


def test_user_text_cannot_forge_a_mention_in_a_listing() -> None:
    reply = render.listing([experiment(1, title=NASTY.strip())], "all")
    assert "<!channel>" not in mrkdwn(reply)
    assert "&lt;!channel&gt;" in mrkdwn(reply)


# --- history -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "detail",
    [None, {"reason": NASTY * 100}, {"learnings": "x" * 5000, "forced_past_wip_limit": True}],
    ids=["short", "long-escaped", "very-long"],
)
def test_a_history_of_1000_entries_stays_within_limits(detail: dict[str, Any] | None) -> None:
    entries = [audit(n, detail) for n in range(1000)]
    reply = render.history(experiment(7, title="t" * 200), entries)
    assert_within_slack_limits(reply)
    assert reply.text.startswith("History of EXP-7")
    assert "<!channel>" not in mrkdwn(reply)


def test_a_short_history_shows_every_entry() -> None:
    entries = [audit(n) for n in range(5)]
    reply = render.history(experiment(7), entries)
    assert_within_slack_limits(reply)
    shown = visible(reply)
    for n in range(5):
        assert f"https://nb.example.com/{n}" in shown
    assert "running → in_review" in shown


def test_an_empty_history_still_has_text() -> None:
    reply = render.history(experiment(7), [])
    assert_within_slack_limits(reply)


# --- cards -------------------------------------------------------------------------

FIFTY_LINKS = tuple(
    Link(f"https://notebooks.example.com/team/churn/{n}", f"Notebook {n}", "U1", AT)
    for n in range(50)
)


@pytest.mark.parametrize(
    "e",
    [
        experiment(7, title="t" * 200, hypothesis="h" * 3000, links=FIFTY_LINKS),
        experiment(7, title=(NASTY * 10)[:200], hypothesis=(NASTY * 200)[:3000]),
        experiment(123456789, status=Status.IN_REVIEW, learnings="l" * 3000, links=FIFTY_LINKS),
        experiment(8, status=Status.SHIPPED),
    ],
    ids=["long-hypothesis-50-links", "escaped", "long-learnings", "final"],
)
def test_a_card_stays_within_limits(e: Experiment) -> None:
    reply = render.show(e)
    assert_within_slack_limits(reply)
    assert e.key in reply.text
    assert "<!channel>" not in mrkdwn(reply)
    _, root_blocks = render.thread_root(e)
    assert_within_slack_limits(Reply(text=e.key, blocks=root_blocks))


def test_a_card_offers_the_next_steps_as_buttons() -> None:
    reply = render.show(experiment(7, status=Status.RUNNING))
    buttons = [
        el["action_id"] for b in reply.blocks if b["type"] == "actions" for el in b["elements"]
    ]
    assert buttons == ["exp_analyze", "exp_conclude", "exp_abandon"]
    assert all(
        el["value"] == "EXP-7"
        for b in reply.blocks
        if b["type"] == "actions"
        for el in b["elements"]
    )


def test_a_final_card_has_no_buttons() -> None:
    reply = render.show(experiment(7, status=Status.SHIPPED))
    assert not [b for b in reply.blocks if b["type"] == "actions"]
    assert "none (final)" in visible(reply)


def test_a_long_hypothesis_does_not_hide_the_criterion_or_the_links() -> None:
    reply = render.show(experiment(7, hypothesis="h" * 3000, links=FIFTY_LINKS[:5]))
    shown = visible(reply)
    assert "log_loss" in shown
    assert "https://notebooks.example.com/team/churn/4" in shown


def test_change_messages_are_clipped_and_escaped() -> None:
    e = experiment(7, status=Status.IN_REVIEW)
    text = render.change_message(e, "U1", "conclude", {"learnings": NASTY * 500})
    assert 0 < len(text) <= SECTION_TEXT
    assert "<!channel>" not in text


# --- metric summaries --------------------------------------------------------------


def _summaries() -> list[Any]:
    """Real summaries: paired, unpaired (a different held-out set), scalar, regression,
    tiny (no interval), and one with every warning a user can trigger."""
    import numpy as np

    from bot.domain.evaluation import Kind, Predictions, ScalarMetrics
    from bot.domain.summary import summarize

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(float)
    good = np.clip(0.6 * y + rng.random(500) * 0.5, 0, 1)
    weak = rng.random(500)
    leaky = y * 0.9 + 0.05  # AUC 1: the leakage warning
    criterion = SuccessCriterion("auc", Direction.HIGHER, 0.01)
    c = Kind.CLASSIFICATION
    other = Predictions(c, y[::-1].copy(), weak)
    return [
        summarize(Predictions(c, y, good), Predictions(c, y, weak), criterion),
        summarize(Predictions(c, y, leaky * 3), other, criterion),
        summarize(ScalarMetrics(c, {"auc": 0.8, "log_loss": 0.4}), Predictions(c, y, weak), None),
        summarize(Predictions(c, y[:12], good[:12]), None, None),
        summarize(
            Predictions(Kind.REGRESSION, rng.normal(size=300), rng.normal(size=300)), None, None
        ),
    ]


@pytest.mark.parametrize("index", range(5))
def test_a_metric_summary_stays_within_limits_and_says_its_warnings(index: int) -> None:
    from bot.domain.evaluation import Baseline
    from bot.slack.blocks import evaluations as eval_render

    summary = _summaries()[index]
    e = experiment(7, title=NASTY * 10)
    baseline = Baseline("churn", 3, 11, "U0MANAGER", AT)
    text, blocks = eval_render.summary_blocks(e, summary, baseline, dismissed=2)
    reply = Reply(text=text, blocks=blocks)
    assert_within_slack_limits(reply)
    shown = visible(reply)
    for warning in summary.warnings:
        assert warning in shown
    assert "dismissed 2 approval(s)" in shown and "dismissed 2 approval(s)" in text


def test_metrics_view_of_a_stored_summary_stays_within_limits() -> None:
    from bot.domain.evaluation import Baseline, EvaluationRecord, Kind
    from bot.domain.parity import Parity
    from bot.slack.blocks import evaluations as eval_render

    summary = _summaries()[0]
    record = EvaluationRecord(
        5,
        7,
        7,
        Kind.CLASSIFICATION,
        "upload",
        NASTY,
        "U0123ABCDEF",
        AT,
        500,
        "f",
        11,
        summary.to_json(),
    )
    parity = Parity(500, 1e-6, 0.5, 0.2, 3, 0.006, 0.998, 1, False)
    baseline = Baseline("churn", 4, 12, "U0MANAGER", AT)
    reply = eval_render.metrics_view(experiment(7), record, 3, baseline, parity, 3)
    assert_within_slack_limits(reply)
    shown = visible(reply)
    assert "compared with EXP-3" in shown and "baseline is now EXP-4" in shown
    assert "Parity of EXP-7" in shown and "3 rows" in shown


# --- the weekly digest ---------------------------------------------------------------


def test_a_digest_of_a_busy_project_stays_within_limits_and_counts_what_it_left_out() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.domain.digest_values import (
        MOVEMENTS,
        Movement,
        PendingReview,
        ProjectDigest,
        StaleExperiment,
        Week,
        WipLine,
    )
    from bot.domain.model import Project, ProjectRules
    from bot.services.digest import Digest
    from bot.slack.blocks import digest as digest_render

    week = Week.of(date(2026, 3, 23), ZoneInfo("Europe/Berlin"))  # the DST week: 167 hours
    pending = [
        PendingReview(n, NASTY * 5, f"U{n:08d}", n / 3, n % 9, n % 9 >= 2, n) for n in range(300)
    ]
    stale = [StaleExperiment(n, NASTY * 5, f"U{n:08d}", 14 + n, "running") for n in range(300)]
    figures = ProjectDigest(
        project_id=1,
        slug="churn-prediction-v2",
        week=week,
        board={s.value: 100 for s in Status},
        wip=[WipLine(f"U{n:08d}", "main", 2, 1, 3) for n in range(200)]
        + [WipLine(None, None, 400, 0, 400)],
        movements={m: 50 for m in MOVEMENTS},
        moved={m: list(range(1, 300)) for m in MOVEMENTS},
        velocity=[(week.monday, {"success": 3, "failure": 2, "inconclusive": 1})] * 8,
        cycle_time_days=12.25,
        review_latency_days=1.5,
        pending_reviews=pending,
        stale=stale,
        best_movement=Movement(7, "auc", 0.021, 0.021, True, 3),
    )
    project = Project(1, "T1", "churn-prediction-v2", "C1", ProjectRules(), AT)
    digest = Digest(project, figures, None)
    text, blocks = digest_render.summary(digest)
    assert_within_slack_limits(Reply(text=text, blocks=blocks))
    assert "Mon 23 Mar – Sun 29 Mar 2026" in visible(Reply(text=text, blocks=blocks))
    for reply_text, reply_blocks in digest_render.details(digest):
        reply = Reply(text=reply_text, blocks=reply_blocks)
        assert_within_slack_limits(reply)
        assert len(json.dumps(reply_blocks, ensure_ascii=False)) <= 11_000
    shown = "\n".join(visible(Reply(text=t, blocks=b)) for t, b in digest_render.details(digest))
    assert "…and 260 more." in shown  # 300 reviews waiting, 40 listed
    preview = digest_render.preview([digest, digest])
    assert_within_slack_limits(preview)
    assert "the rest is in the weekly DM" in visible(preview)


# --- next steps (/exp show) and the review request ------------------------------------


def test_show_names_each_next_step_and_who_may_take_it() -> None:
    from bot.services.next_steps import NextStep

    steps = [NextStep("start", ("UALICE", "UMIA")), NextStep("edit", (), "write a hypothesis")]
    reply = render.show(experiment(7, status=Status.PROPOSED), steps)
    assert_within_slack_limits(reply)
    line = "Next steps: start — <@UALICE> or <@UMIA>; edit — nobody on the project can"
    assert line in reply.text
    assert "(write a hypothesis)" in mrkdwn(reply)


def test_next_steps_with_hundreds_of_people_stay_within_limits() -> None:
    from bot.services.next_steps import NextStep

    crowd = tuple(f"U{n:09d}" for n in range(500))
    steps = [NextStep("analyze", crowd), NextStep("conclude", crowd, NASTY)]
    reply = render.show(experiment(7), steps)
    assert_within_slack_limits(reply)
    assert "<!channel>" not in mrkdwn(reply)


def test_a_criterion_changed_after_start_is_in_the_review_request() -> None:
    from dataclasses import replace

    from bot.domain.review import Review, ReviewKind
    from bot.slack.blocks import reviews as review_render

    review = Review(1, 7, ReviewKind.RESULTS, "U0123ABCDEF", AT, True)
    changed = replace(experiment(7, status=Status.IN_REVIEW), criterion_changed_after_start=True)
    _, blocks = review_render.request(changed, review, 2)
    assert "Criterion changed after the experiment started" in json.dumps(blocks)
    _, plain = review_render.request(experiment(7, status=Status.IN_REVIEW), review, 2)
    assert "Criterion changed" not in json.dumps(plain)


def test_a_draft_s_card_offers_no_start_button_and_names_edit() -> None:
    from dataclasses import replace

    draft = replace(experiment(7, status=Status.PROPOSED), hypothesis="", criterion=None)
    blocks = to_dicts(render.card(draft))
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Abandon…"]
    assert "Next steps: edit, abandon" in json.dumps(blocks, ensure_ascii=False)
    ready = to_dicts(render.card(experiment(8, status=Status.PROPOSED)))
    assert "Start" in json.dumps(ready)

"""The App Home view stays within Slack's limits and says what it left out (SPEC §7)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.domain.errors import WipLimitExceeded
from bot.domain.model import (
    Actor,
    Direction,
    Experiment,
    Outcome,
    Project,
    ProjectRules,
    Status,
    SuccessCriterion,
    Workstream,
)
from bot.domain.review import ReviewKind
from bot.domain.rotation import Slot, Topic
from bot.domain.wip import check_start
from bot.services.home import Board, Home, NextMeeting, ReviewWaiting
from bot.slack.blocks.home import home_view

AT = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
ME = "UALICE"
# Slack's documented limits: a Home view holds 100 blocks; a section's text 3,000
# characters; button text 75 and value 2,000; block ids 255 and unique in the view.
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
BUTTON_TEXT = 75
# Slack publishes no total for a view; a full Home should still be modest.
SANE_JSON = 40_000
NASTY = "A & B <!channel> > C "  # grows when escaped, and must never become a mention
STEPS = {"exp_start", "exp_analyze", "exp_conclude", "exp_abandon"}


def experiment(number: int, status: Status, *, owner: str = ME, title: str = "") -> Experiment:
    return Experiment(
        id=number,
        team_id="T1",
        number=number,
        project="churn",
        title=title or f"Experiment number {number}",
        hypothesis="",
        owner_id=owner,
        workstream=Workstream.MAIN if number % 2 else Workstream.SIDE,
        criterion=SuccessCriterion("auc", Direction.HIGHER, 0.01),
        status=status,
        outcome=Outcome.SUCCESS if status is Status.IN_REVIEW else None,
        learnings="",
        version=1,
        created_at=AT,
        updated_at=AT,
    )


def project(slug: str, **rules: int) -> Project:
    return Project(1, "T1", slug, "C" + slug.upper(), ProjectRules(**rules), AT)  # type: ignore[arg-type]


def home(
    experiments: list[Experiment],
    reviews: list[ReviewWaiting],
    *,
    experiments_total: int | None = None,
    reviews_total: int | None = None,
    boards: tuple[Board, ...] = (),
    meetings: tuple[NextMeeting, ...] = (),
    meetings_total: int | None = None,
    member: bool = True,
) -> Home:
    return Home(
        "T1",
        ME,
        AT,
        "Europe/Berlin",
        member,
        tuple(experiments),
        len(experiments) if experiments_total is None else experiments_total,
        tuple(reviews),
        len(reviews) if reviews_total is None else reviews_total,
        boards,
        meetings,
        len(meetings) if meetings_total is None else meetings_total,
    )


def waiting(number: int, days: int, title: str = "") -> ReviewWaiting:
    return ReviewWaiting(
        experiment(number, Status.IN_REVIEW, owner="UBOB", title=title),
        1000 + number,
        ReviewKind.RESULTS,
        days,
    )


def meeting(slug: str, presenter: str | None) -> NextMeeting:
    return NextMeeting(
        slug,
        Slot(date(2026, 11, 30), Topic.SCIENCE, presenter),
        datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        "Europe/Berlin",
    )


def crowded(long_title: str = (NASTY * 20)[:200]) -> Home:
    """More of everything than a Home can show (by default with long, nasty titles)."""
    statuses = [Status.PROPOSED, Status.RUNNING, Status.ANALYZING, Status.IN_REVIEW]
    mine = [experiment(n, statuses[n % 4], title=long_title) for n in range(1, 61)]
    theirs = [waiting(n, n % 7, long_title) for n in range(100, 160)]
    counts = {s: 7 for s in Status}
    boards = tuple(
        Board(project(f"project-{i:02d}", wip_project=5), counts, 14, {Workstream.MAIN: 2})
        for i in range(30)
    )
    meetings = tuple(meeting(f"project-{i:02d}", "UBOB") for i in range(6))
    return home(
        mine,
        theirs,
        experiments_total=137,
        reviews_total=75,
        boards=boards,
        meetings=meetings,
        meetings_total=30,
    )


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn/plain text of the view, in reading order."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if "text" in element:
                text = element["text"]
                found.append(text if isinstance(text, str) else text["text"])
    return found


def part(blocks: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
    """The blocks from the section titled ``title`` up to the next divider."""
    start = next(i for i, b in enumerate(blocks) if b.get("text", {}).get("text", "") == title)
    end = next(
        (i for i in range(start, len(blocks)) if blocks[i]["type"] == "divider"), len(blocks)
    )
    return blocks[start:end]


def keys_in(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        m.group(1)
        for b in blocks
        if b["type"] == "section"
        for m in [re.match(r"\*(EXP-\d+)\*", b["text"]["text"])]
        if m
    ]


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def left_out(blocks: list[dict[str, Any]], pattern: str) -> int:
    """The number in a "…and N more …" note matching ``pattern``."""
    notes = [t for t in texts(blocks) if re.search(pattern, t)]
    assert len(notes) == 1, notes
    return int(re.search(r"…and (\d+) more", notes[0]).group(1))  # type: ignore[union-attr]


def test_a_crowded_home_stays_within_slacks_limits() -> None:
    view = home_view(crowded())
    blocks = view["blocks"]
    assert view["type"] == "home"
    assert len(blocks) <= VIEW_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_TEXT
    for element in buttons(blocks):
        assert len(element["text"]["text"]) <= BUTTON_TEXT
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), "Slack refuses a view with a repeated block_id"
    assert len(json.dumps(blocks, ensure_ascii=False)) <= SANE_JSON
    everything = "\n".join(texts(blocks))
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything


def test_a_crowded_home_with_short_titles_uses_the_room_it_has() -> None:
    blocks = home_view(crowded("Tenure features"))["blocks"]
    assert VIEW_BLOCKS - 4 <= len(blocks) <= VIEW_BLOCKS


def test_a_crowded_home_says_exactly_what_it_left_out() -> None:
    blocks = home_view(crowded())["blocks"]
    mine = part(blocks, "*My experiments* (137 open)")
    shown = keys_in(mine)
    assert shown == [f"EXP-{n}" for n in range(1, len(shown) + 1)]  # in the order given
    assert left_out(mine, "/exp list mine") == 137 - len(shown)
    theirs = part(blocks, "*Reviews waiting on me* (75)")
    reviewed = keys_in(theirs)
    assert reviewed == [f"EXP-{n}" for n in range(100, 100 + len(reviewed))]  # oldest first
    assert left_out(theirs, "/review list mine") == 75 - len(reviewed)
    # Neither list crowds the other out.
    assert abs(len(shown) - len(reviewed)) <= 1 and len(shown) >= 15
    boards = part(blocks, "*Project boards*")
    assert left_out(boards, "more projects: `/exp list all") == 30 - len(
        re.findall(r"\*project-\d\d\* —", "\n".join(texts(boards)))
    )
    rotation = blocks[next(i for i, b in enumerate(blocks) if "Next review" in str(b)) :]
    assert left_out(rotation, "/rotation show") == 24


def test_every_item_shown_carries_its_buttons() -> None:
    blocks = home_view(crowded())["blocks"]
    mine = part(blocks, "*My experiments* (137 open)")
    for key in keys_in(mine):
        values = {e["value"] for e in buttons(mine) if e["value"] == key}
        assert values == {key}, f"{key} has no step buttons"
    assert {e["action_id"] for e in buttons(mine)} <= STEPS
    in_review = [b for b in buttons(mine) if b["value"] == "EXP-3"]  # in review: abandon only
    assert [b["action_id"] for b in in_review] == ["exp_abandon"]
    theirs = part(blocks, "*Reviews waiting on me* (75)")
    for key in keys_in(theirs):
        review_id = str(1000 + int(key.removeprefix("EXP-")))
        ids = [e["action_id"] for e in buttons(theirs) if e["value"] == review_id]
        assert ids == ["review_approve", "review_changes", "review_decline"]


def test_a_small_home_shows_everything_and_leaves_nothing_out() -> None:
    mine = [experiment(1, Status.PROPOSED), experiment(2, Status.APPROVED)]
    board = Board(project("churn", wip_project=2), {Status.RUNNING: 2}, 2, {Workstream.MAIN: 1})
    blocks = home_view(
        home(mine, [waiting(9, 3)], boards=(board,), meetings=(meeting("churn", ME),))
    )["blocks"]
    everything = "\n".join(texts(blocks))
    assert "…and" not in everything
    assert keys_in(blocks) == ["EXP-1", "EXP-2", "EXP-9"]
    assert "Waiting on you for 3 working day(s) ⏰" in everything
    # EXP-2 waits on engineering: no button of the owner's, but its next step is said.
    assert [b["action_id"] for b in buttons(blocks) if b["value"] == "EXP-2"] == ["exp_abandon"]
    assert "Next: schedule, abandon" in everything
    assert "In flight 2 of 2 (full) · per person: main 1, side 3" in everything
    assert "You already have 1 main-stream experiment(s) in flight (limit 1)" in everything
    assert "🏃 running 2" in everything and "proposed" not in everything.split("*churn*")[1]
    assert "*churn* · Mon 2026-11-30 10:00 (Europe/Berlin)" in everything  # 09:00 UTC
    assert "you present" in everything


def test_the_home_says_why_a_week_has_another_topic_or_no_meeting() -> None:
    week, at = date(2026, 11, 30), datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    stands_in = Slot(week, Topic.SCIENCE, "UBOB", instead_of=Topic.ENGINEERING)
    empty = Slot(week, Topic.SCIENCE, None)
    away = Slot(week, Topic.SCIENCE, None, skipped=(("UBOB", "out of office"),))
    meetings = tuple(
        NextMeeting(slug, slot, at, "Europe/Berlin")
        for slug, slot in (("churn", stands_in), ("fraud", empty), ("ads", away))
    )
    lines = [t for t in texts(home_view(home([], [], meetings=meetings))["blocks"]) if " · " in t]
    shown = "\n".join(lines)
    assert "🔬 science (instead of engineering: nobody in its pool) · <@UBOB>" in shown
    assert "*fraud* · Mon 2026-11-30 10:00 (Europe/Berlin) · no meeting: nobody in any" in shown
    assert "*ads* · Mon 2026-11-30 10:00 (Europe/Berlin) · 🔬 science · _nobody available_" in shown


def test_the_same_work_reads_the_same_on_every_board_and_as_the_start_refusal() -> None:
    """Two main experiments in flight (both in churn, which allows 2; fraud allows 1): one
    count, each project's limit, and the words `/exp start` would refuse with in each."""
    mine = {Workstream.MAIN: 2}
    boards = (
        Board(project("churn", wip_main=2), {Status.RUNNING: 2}, 2, mine),
        Board(project("fraud"), {}, 0, mine),
        Board(project("ads", wip_main=3), {}, 0, mine),
    )
    everything = "\n".join(texts(home_view(home([], [], boards=boards))["blocks"]))
    assert everything.count("*Your work in progress*") == 1
    assert "(running or analyzing, in every project): main 2 · side 0" in everything
    assert "over the limit" not in everything
    churn, fraud, ads = (everything.split(f"*{slug}* — ")[1] for slug in ("churn", "fraud", "ads"))
    new = experiment(101, Status.PROPOSED)  # odd: main stream
    running = [experiment(n, Status.RUNNING) for n in (1, 3)]
    for text, rules in ((churn, ProjectRules(wip_main=2)), (fraud, ProjectRules())):
        with pytest.raises(WipLimitExceeded) as refused:
            check_start(new, rules, running, [], Actor("T1", ME), force=False)
        said = str(refused.value).split(".")[0]  # "<@UALICE> already has 2 … (limit 1)"
        board_text = text.split("*")[0]
        you = said.replace(f"<@{ME}> already has", "You already have")
        assert f"{you}: a main start here is refused." in board_text
    assert "already" not in ads.split("*")[0]  # room for a third here
    assert "per person: main 3, side 3" in ads


def test_only_one_long_list_takes_the_whole_room() -> None:
    mine = [experiment(n, Status.RUNNING) for n in range(1, 61)]
    blocks = home_view(home(mine, [], experiments_total=60))["blocks"]
    shown = keys_in(part(blocks, "*My experiments* (60 open)"))
    assert len(shown) >= 40
    assert left_out(blocks, "/exp list mine") == 60 - len(shown)
    assert "_No reviews wait on you._" in texts(blocks)


@pytest.mark.parametrize("member", [True, False])
def test_an_empty_home_still_says_something_useful(member: bool) -> None:
    blocks = home_view(home([], [], member=member))["blocks"]
    everything = "\n".join(texts(blocks))
    assert "`/exp new <project> <title>" in everything
    assert "No reviews wait on you" in everything
    assert ("/mlgov member add" in everything) is not member
    assert "You are on no project" in everything
    assert len(blocks) <= 20


def test_a_home_view_is_sent_as_slack_expects() -> None:
    """What views.publish gets: a home view (no title, unlike a modal), a header first."""
    view = home_view(home([experiment(1, Status.RUNNING)], []))
    assert set(view) == {"type", "blocks"}
    first = view["blocks"][0]
    assert first["type"] == "header" and first["text"]["text"] == "Your mlgov Home"
    assert "12:00 (Europe/Berlin)" in str(view["blocks"][1])  # 11:00 UTC in the team's zone

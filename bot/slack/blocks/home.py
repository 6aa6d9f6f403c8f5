"""The App Home tab: my experiments with their buttons, reviews waiting on me, the boards
and the next meetings, within a Home view's 100 blocks, saying what was left out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, DividerBlock
from slack_sdk.models.views import View

from bot.domain import wip
from bot.domain.lifecycle import allowed_steps
from bot.domain.model import Experiment, Status, Workstream
from bot.services.home import Board, Home, NextMeeting, ReviewWaiting
from bot.slack.blocks import actions, button, clip, context, escape, header, section, sections
from bot.slack.blocks.experiments import STATUS_ICON, status_text, step_buttons
from bot.slack.blocks.reviews import APPROVE, CHANGES, DECLINE
from bot.slack.blocks.rotation import TOPIC_ICON, slot_topic

MAX_VIEW_BLOCKS = 100  # Slack's limit for a Home view
# Slack publishes no total for a view; ours keeps a Home quick to send and to draw.
MAX_VIEW_CHARS = 36_000
BOARD_LINES = 15
TITLE_CHARS = 80
OVERDUE_DAYS = 2  # working days: when reviewers are reminded


def home_view(home: Home) -> dict[str, Any]:
    """The ``view`` for views.publish (validated by slack_sdk: at most 100 blocks)."""
    view = View(type="home", blocks=home_blocks(home))
    result: dict[str, Any] = view.to_dict()
    return result


def home_blocks(home: Home) -> list[Block]:
    zone = ZoneInfo(home.timezone)
    top: list[Block] = [
        header("Your mlgov Home"),
        context(
            f"What waits on you, as of {home.built_at.astimezone(zone):%a %Y-%m-%d %H:%M}"
            f" ({home.timezone}). Commands: `/exp help`, `/review help`, `/rotation help`."
        ),
    ]
    if not home.member:
        top.append(
            section(
                "You are not on any mlgov project yet. Ask a manager or an admin to add you"
                " (`/mlgov member add @you scientist <project>`); then your experiments, the"
                " reviews waiting on you and your projects' boards show here."
            )
        )
    exp_title = section(f"*My experiments* ({home.experiments_total} open)")
    rev_title = section(f"*Reviews waiting on me* ({home.reviews_total})")
    exp_empty = [] if home.experiments_total else [section(NO_EXPERIMENTS)]
    rev_empty = [] if home.reviews_total else [section("_No reviews wait on you._")]
    boards = _boards(home)
    meetings = _meetings(home)
    # Notes of what was left out, at their longest (numbers of up to 6 digits).
    reserve = [_more_experiments(999_999), _more_reviews(999_999)]
    fixed = [*top, exp_title, *exp_empty, rev_title, *rev_empty, *boards, *meetings, *reserve]
    fixed += [DividerBlock()] * 3
    exp_groups = [_experiment(e) for e in home.experiments]
    rev_groups = [_review(r) for r in home.reviews]
    shown_exp, shown_rev = fit(
        exp_groups,
        rev_groups,
        MAX_VIEW_BLOCKS - len(fixed),
        MAX_VIEW_CHARS - size(fixed),
    )
    blocks: list[Block] = [*top, exp_title, *exp_empty]
    blocks += [b for group in exp_groups[:shown_exp] for b in group]
    if home.experiments_total > shown_exp:
        blocks.append(_more_experiments(home.experiments_total - shown_exp))
    blocks += [DividerBlock(), rev_title, *rev_empty]
    blocks += [b for group in rev_groups[:shown_rev] for b in group]
    if home.reviews_total > shown_rev:
        blocks.append(_more_reviews(home.reviews_total - shown_rev))
    blocks += [DividerBlock(), *boards, DividerBlock(), *meetings]
    return blocks


NO_EXPERIMENTS = (
    "_You own no open experiments._ Propose one with `/exp new <project> <title>"
    " --hypothesis …` (or `/exp new` for a form)."
)


def fit(
    first: Sequence[Sequence[Block]], second: Sequence[Sequence[Block]], blocks: int, chars: int
) -> tuple[int, int]:
    """How many groups of each list fit in ``blocks`` blocks and ``chars`` characters,
    taken in turn (one of each, in order) so that neither list crowds out the other."""
    lists = (first, second)
    taken = [0, 0]
    going = [bool(first), bool(second)]
    while any(going):
        for i in (0, 1):
            if not going[i]:
                continue
            group = lists[i][taken[i]]
            cost = size(group)
            if len(group) > blocks or cost > chars:
                going[i] = False
                continue
            blocks -= len(group)
            chars -= cost
            taken[i] += 1
            going[i] = taken[i] < len(lists[i])
    return taken[0], taken[1]


def size(blocks: Sequence[Block]) -> int:
    """Characters of the blocks' JSON, as sent."""
    return sum(len(json.dumps(b.to_dict(), ensure_ascii=False)) for b in blocks)


def _title(e: Experiment) -> str:
    return escape(clip(e.title, TITLE_CHARS))


def _experiment(e: Experiment) -> list[Block]:
    steps = ", ".join(allowed_steps(e.status)) or "none"
    line = f"*{e.key}* {_title(e)} — {status_text(e)} · {e.project} · {e.workstream}\nNext: {steps}"
    return [section(line), *step_buttons(e)]


def _review(r: ReviewWaiting) -> list[Block]:
    e = r.experiment
    late = " ⏰" if r.waiting_days >= OVERDUE_DAYS else ""
    line = (
        f"*{e.key}* {_title(e)} · {r.kind} review · {e.project} · owner <@{e.owner_id}>\n"
        f"Waiting on you for {r.waiting_days} working day(s){late}"
        + (" · 🙋 needs a reviewer: nobody else can take it over" if r.needs_reviewer else "")
    )
    value = str(r.review_id)
    return [
        section(line),
        actions(
            button("Approve", APPROVE, value, "primary"),
            button("Request changes…", CHANGES, value, "danger"),
            button("Can't review", DECLINE, value),
            block_id=f"review:{r.review_id}",
        ),
    ]


def _more_experiments(count: int) -> Block:
    return context(f"…and {count} more of your open experiments: `/exp list mine`")


def _more_reviews(count: int) -> Block:
    return context(f"…and {count} more reviews waiting on you: `/review list mine`")


def board_line(board: Board) -> str:
    rules = board.project.rules
    counts = " · ".join(
        f"{STATUS_ICON[s]} {s.value} {board.counts[s]}" for s in Status if board.counts.get(s)
    )
    if rules.wip_project:
        flight = f"In flight {board.in_flight} of {rules.wip_project}"
        flight += _fullness(board.in_flight, rules.wip_project)
    else:
        flight = f"In flight {board.in_flight} (no project limit)"
    limits = ", ".join(f"{stream} {rules.limit_for(stream)}" for stream in Workstream)
    lines = [f"*{board.project.slug}* — {counts or 'no experiments yet'}"]
    lines.append(f"{flight} · per person: {limits}")
    # The person's count is the same on every board (every project's, as the start check
    # counts it); only the limit is this project's, in the refusal's own words.
    for stream in Workstream:
        mine, limit = board.mine.get(stream, 0), rules.limit_for(stream)
        if wip.personal_limit_reached(mine, limit):
            words = wip.personal_limit_words(None, mine, stream, limit)
            lines.append(f"{words}: a {stream} start here is refused.")
    return "\n".join(lines)


def your_work_in_progress(mine: dict[Workstream, int]) -> str:
    """The person's in-flight experiments per stream, once: every project's, as
    ``/exp start`` counts them against the limit of the project started in."""
    counts = " · ".join(f"{stream} {mine.get(stream, 0)}" for stream in Workstream)
    return f"*Your work in progress* (running or analyzing, in every project): {counts}"


def _fullness(count: int, limit: int) -> str:
    """Full: the next start is refused; over: a manager forced one past the limit."""
    if count > limit:
        return " ⚠️ over the limit"
    return " (full)" if count == limit else ""


def _boards(home: Home) -> list[Block]:
    blocks: list[Block] = [section("*Project boards*")]
    if not home.boards:
        return blocks + [section("_You are on no project._")]
    blocks.append(section(your_work_in_progress(home.boards[0].mine)))
    blocks += sections([board_line(b) for b in home.boards[:BOARD_LINES]])
    if len(home.boards) > BOARD_LINES:
        blocks.append(
            context(
                f"…and {len(home.boards) - BOARD_LINES} more projects:"
                " `/exp list all --project <project>`"
            )
        )
    return blocks


def meeting_line(meeting: NextMeeting, user_id: str) -> str:
    slot = meeting.slot
    when = meeting.meeting.astimezone(ZoneInfo(meeting.timezone))
    at = f"*{meeting.project}* · {when:%a %Y-%m-%d %H:%M} ({meeting.timezone})"
    if slot.nobody_in_any_pool:
        return f"{at} · no meeting: nobody in any presenter pool"
    if slot.cancelled is not None:
        return f"{at} · ⏭️ skipped" + (f" ({escape(slot.cancelled)})" if slot.cancelled else "")
    who = f"<@{slot.presenter}>" if slot.presenter else "_nobody available_"
    you = " — *you present*" if slot.presenter == user_id else ""
    return f"{at} · {TOPIC_ICON[slot.topic]} {slot_topic(slot)} · {who}{you}"


def _meetings(home: Home) -> list[Block]:
    blocks: list[Block] = [section("*Next review rotation*")]
    if not home.meetings:
        return blocks + [section("_No meetings: you are on no project._")]
    blocks += sections([meeting_line(m, home.user_id) for m in home.meetings])
    left = home.meetings_total - len(home.meetings)
    if left > 0:
        blocks.append(context(f"…and {left} more projects: `/rotation show <project>`"))
    return blocks

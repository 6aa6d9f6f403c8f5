"""The weekly digest as Slack messages: a summary, and details as thread replies (pure)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.digest_values import ProjectDigest
from bot.domain.model import Status
from bot.services.digest import Digest
from bot.slack.blocks import (
    MAX_BLOCK_CHARS,
    Reply,
    context,
    escape,
    header,
    section,
    sections,
    to_dicts,
)
from bot.slack.blocks.rotation import slot_line

MOVEMENT_NAMES = {
    "new": "new",
    "started": "started",
    "concluded_success": "concluded ✅ success",
    "concluded_failure": "concluded ❌ failure",
    "concluded_inconclusive": "concluded ➖ inconclusive",
    "approved": "approved",
    "scheduled": "scheduled",
    "shipped": "shipped",
    "abandoned": "abandoned",
}
LIST_LIMIT = 40  # lines per list in a reply; the rest is counted


def week_label(figures: ProjectDigest, so_far: datetime | None = None) -> str:
    """The week's days; a week in progress ends at ``so_far`` and says so."""
    if so_far is not None:
        until = so_far.astimezone(figures.week.start.tzinfo)
        return f"{figures.week.start:%a %d %b} – {until:%a %d %b %Y %H:%M}, this week so far"
    last = figures.week.end - timedelta(days=1)
    return f"{figures.week.start:%a %d %b} – {last:%a %d %b %Y}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} days"


def velocity_line(figures: ProjectDigest, so_far: datetime | None = None) -> str:
    """Experiments concluded in each week, oldest first, as plain numbers (the chart in
    text; bars of block characters were unreadable in Slack's fonts)."""
    totals = [sum(counts.values()) for _, counts in figures.velocity]
    if not totals:
        return "*Concluded per week:* —"
    first = figures.velocity[0][0]
    last = " (the last: this week so far)" if so_far is not None else " (the last: this week)"
    return (
        f"*Concluded per week* ({len(totals)} weeks from {first:%a %d %b}, oldest first;"
        f" failures included): {' · '.join(str(t) for t in totals)}{last}"
    )


def _board(figures: ProjectDigest) -> str:
    shown = [f"{status.value} {figures.board[status.value]}" for status in Status]
    return " · ".join(s for s in shown if not s.endswith(" 0")) or "no experiments yet"


def _wip(figures: ProjectDigest) -> list[str]:
    lines = []
    for line in figures.wip:
        limit = f"/{line.limit}" if line.limit else " (no limit)"
        flag = " ⚠ over the limit" if line.over else ""
        if line.owner_id is None:
            lines.append(f"project: {line.in_flight}{limit} in flight{flag}")
        else:
            everywhere = (
                f" ({line.in_flight_everywhere} in all projects)"
                if line.in_flight_everywhere != line.in_flight
                else ""
            )
            lines.append(
                f"<@{line.owner_id}> {line.workstream}: {line.in_flight}{limit}{everywhere}{flag}"
            )
    return lines


def _movements(figures: ProjectDigest) -> str:
    parts = [f"{MOVEMENT_NAMES[key]} {count}" for key, count in figures.movements.items() if count]
    return " · ".join(parts) or "nothing moved"


def _best(figures: ProjectDigest) -> str | None:
    best = figures.best_movement
    if best is None:
        return None
    against = f" vs EXP-{best.baseline_number}" if best.baseline_number else ""
    met = ""
    if best.criterion_met is not None:
        met = ", criterion met" if best.criterion_met else ", criterion not met"
    return f"EXP-{best.number} {best.metric} {best.delta:+.4f}{against} (significant{met})"


def summary(digest: Digest) -> tuple[str, list[dict[str, Any]]]:
    """The message a manager reads first: every figure in one screen."""
    f = digest.figures
    label = week_label(f, digest.so_far)
    pending = len(f.pending_reviews)
    overdue = sum(r.overdue for r in f.pending_reviews)
    unstaffed = len({r.review_id for r in f.pending_reviews if r.needs_reviewer})
    lines = [
        f"*Board:* {_board(f)}",
        f"*{label}:* {_movements(f)}",
        velocity_line(f, digest.so_far),
        f"*Median cycle time* (proposed → concluded): {_days(f.cycle_time_days)} · "
        f"*review latency* (requested → decided): {_days(f.review_latency_days)}",
        f"*Reviews waiting:* {pending}"
        + (f" ({overdue} overdue)" if overdue else "")
        + (f" · 🙋 {unstaffed} need a reviewer" if unstaffed else ""),
        f"*Stale* (no activity for 14 days): {len(f.stale)}",
    ]
    best = _best(f)
    if best:
        lines.append(f"*Best movement against the baseline:* {best}")
    if digest.next_rotation is not None:
        lines.append(f"*Next review:* {slot_line(digest.next_rotation)}")
    if f.empty:
        lines.insert(0, "_A quiet week: nothing in progress and nothing moved._")
    blocks: list[Block] = [
        header(f"Weekly digest · {f.slug}"),
        context(label),
        section("\n".join(lines)),
    ]
    text = (
        f"Weekly digest of {f.slug}, {label}: {_movements(f)}; "
        f"{pending} review(s) waiting, {len(f.stale)} stale."
    )
    return text, to_dicts(blocks)


def details(digest: Digest) -> list[tuple[str, list[dict[str, Any]]]]:
    """The lists behind the figures, as thread replies (each within Slack's limits)."""
    f = digest.figures
    replies = []
    waiting = [
        f"{'⏰' if r.overdue else '•'} *EXP-{r.number}* {escape(r.title)}: "
        + (f"<@{r.reviewer}>," if r.reviewer else "nobody asked,")
        + f" {r.working_days} working day(s)"
        + (" — overdue" if r.overdue else "")
        + (" — 🙋 needs a reviewer" if r.needs_reviewer else "")
        for r in f.pending_reviews
    ]
    if waiting:
        replies.append(_reply("Reviews waiting (overdue first)", waiting))
    stale = [
        f"• *EXP-{s.number}* {escape(s.title)} ({s.status}, <@{s.owner_id}>):"
        f" idle {s.idle_days} days"
        for s in f.stale
    ]
    if stale:
        replies.append(_reply("Stale experiments", stale))
    moved = [
        f"• {MOVEMENT_NAMES[key]}: " + ", ".join(f"EXP-{n}" for n in numbers)
        for key, numbers in f.moved.items()
        if numbers
    ]
    wip = _wip(f)
    if moved or wip:
        replies.append(_reply("Movements and work in progress", moved + ["*WIP*", *wip]))
    return replies


def _reply(title: str, lines: list[str]) -> tuple[str, list[dict[str, Any]]]:
    shown = lines[:LIST_LIMIT]
    blocks: list[Block] = [section(f"*{title}*"), *sections(shown)]
    if len(lines) > LIST_LIMIT:
        blocks.append(context(f"…and {len(lines) - LIST_LIMIT} more."))
    return f"{title}: {len(lines)}", to_dicts(blocks)


def preview(digests: list[Digest]) -> Reply:
    """``/digest preview``: each project's summary and details in one ephemeral reply."""
    blocks: list[dict[str, Any]] = []
    texts = []
    for digest in digests:
        text, summary_blocks = summary(digest)
        texts.append(text)
        parts = [summary_blocks, *(b for _, b in details(digest))]
        for part in parts:
            size = len(json.dumps(blocks + part, ensure_ascii=False))
            if len(blocks) + len(part) > 48 or size > MAX_BLOCK_CHARS:
                blocks.extend(
                    to_dicts([context("…the rest is in the weekly DM's thread replies.")])
                )
                return Reply(text="\n".join(texts), blocks=blocks)
            blocks.extend(part)
    return Reply(text="\n".join(texts), blocks=blocks)

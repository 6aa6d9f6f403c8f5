"""Experiment cards, lists, history and thread messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import Block

from bot.domain.lifecycle import allowed_steps, missing_before_start
from bot.domain.model import AuditEntry, Experiment, Project, Status
from bot.slack.blocks import (
    CUT_TO_FIT,
    SECTION_LIMIT,
    Reply,
    actions,
    button,
    clip,
    context,
    escape,
    escaped,
    header,
    reply,
    section,
    sections,
    to_dicts,
    who,
)

if TYPE_CHECKING:
    from bot.services.next_steps import NextStep

STATUS_ICON = {
    Status.PROPOSED: "📝",
    Status.RUNNING: "🏃",
    Status.ANALYZING: "🔬",
    Status.IN_REVIEW: "👀",
    Status.APPROVED: "✅",
    Status.SCHEDULED: "📅",
    Status.SHIPPED: "🚀",
    Status.CLOSED: "📕",
    Status.ABANDONED: "🗑️",
}
# Steps a button can take; conclude and abandon open a form first.
BUTTONS = {
    "start": ("Start", "primary"),
    "analyze": ("Analyze", None),
    "conclude": ("Conclude…", "primary"),
    "abandon": ("Abandon…", "danger"),
}
ACTION_PREFIX = "exp_"
# Free text in a section leaves room for its label and our own words around it.
TEXT_ROOM = SECTION_LIMIT - 200


def status_text(e: Experiment) -> str:
    outcome = f" ({e.outcome})" if e.outcome else ""
    return f"{STATUS_ICON[e.status]} {e.status.value}{outcome}"


def one_line(e: Experiment) -> str:
    return (
        f"*{e.key}* {escape(e.title)} — {status_text(e)} · {e.project} · {e.workstream}"
        f" · <@{e.owner_id}>"
    )


def _details(e: Experiment) -> list[Block]:
    """Summary, hypothesis, learnings and links in their own sections, so a long text
    never pushes the success criterion or a link out of the card."""
    criterion = escape(e.criterion.describe()) if e.criterion else "_none_"
    blocks: list[Block] = [
        section(
            f"*Status:* {status_text(e)}   *Project:* {e.project}   *Stream:* {e.workstream}\n"
            f"*Owner:* <@{e.owner_id}>   *Success criterion:* {criterion}"
        ),
        section(f"*Hypothesis:* {escaped(e.hypothesis, TEXT_ROOM) or '_none written yet_'}"),
    ]
    if e.learnings:
        blocks.append(section(f"*Learnings:* {escaped(e.learnings, TEXT_ROOM)}"))
    links = [f"🔗 <{x.url}|{escape(x.label) if x.label else x.url}>" for x in e.links]
    return blocks + sections(links)


def _steps(e: Experiment) -> list[str]:
    """The lifecycle's next steps; a draft's is to write what start needs (edit)."""
    steps = allowed_steps(e.status)
    if "start" in steps and missing_before_start(e):
        steps = ["edit" if s == "start" else s for s in steps]
    return steps


def step_buttons(e: Experiment) -> list[Block]:
    steps = [s for s in _steps(e) if s in BUTTONS]
    if not steps:
        return []
    return [
        actions(
            *(button(BUTTONS[s][0], ACTION_PREFIX + s, e.key, BUTTONS[s][1]) for s in steps),
            block_id=f"steps:{e.key}:{e.version}",
        )
    ]


def card(
    e: Experiment, *, with_buttons: bool = True, steps: Sequence[NextStep] | None = None
) -> list[Block]:
    """The experiment; ``steps`` (from services.next_steps) name who may take each step."""
    blocks: list[Block] = [header(f"{e.key} · {e.title}"), *_details(e)]
    if with_buttons:
        blocks += step_buttons(e)
    if steps is None:
        blocks.append(context(f"Next steps: {', '.join(_steps(e)) or 'none (final)'}"))
    else:
        blocks.append(section(next_steps_line(e, steps)))
    return blocks


def _people(ids: Sequence[str]) -> str:
    names = [f"<@{u}>" for u in ids]
    if not names:
        return "nobody on the project can — ask an admin to add a manager"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def next_steps_line(e: Experiment, steps: Sequence[NextStep]) -> str:
    """``Next steps: start — @alice or @mia``; final states say so."""
    if not steps:
        return f"*Next steps:* none — {e.key} is {e.status} (final)."
    parts = [
        f"{s.step} — {_people(s.who)}" + (f" ({escape(s.note)})" if s.note else "") for s in steps
    ]
    return "*Next steps:* " + "; ".join(parts) + " · or abandon."


def show(
    e: Experiment, steps: Sequence[NextStep] | None = None, extra: Sequence[Block] = ()
) -> Reply:
    """The card; ``extra`` (the linked MLflow runs) goes before the next steps."""
    text = f"{e.key} {escape(e.title)}: {e.status}"
    if steps is not None:
        text += ". " + next_steps_line(e, steps).replace("*", "")
    blocks = card(e, steps=steps)
    return reply(text, [*blocks[:-1], *extra, blocks[-1]], more=CUT_TO_FIT)


LIST_LIMIT = 40  # lines, to stay well inside Slack's ~13k characters of blocks


def listing(found: Sequence[Experiment], what: str) -> Reply:
    if not found:
        return reply(f"No experiments match ({what}).")
    blocks: list[Block] = [section(f"*{len(found)} experiment(s)* — {what}")]
    blocks += sections([one_line(e) for e in found[:LIST_LIMIT]])
    if len(found) > LIST_LIMIT:
        blocks.append(
            context(
                f"…and {len(found) - LIST_LIMIT} more not shown (newest first);"
                " narrow with --project, a status or @user."
            )
        )
    text = "\n".join(f"{e.key} {escape(e.title)} ({e.status})" for e in found[:30])
    return reply(text, blocks)


# Audit details that hold user ids: shown as mentions (names in Slack), never raw ids.
PEOPLE_DETAILS = frozenset({"reviewers", "reviewer", "successor", "managers", "user", "owner"})


def _describe_entry(entry: AuditEntry) -> str:
    move = ""
    if entry.from_status or entry.to_status:
        move = f" {entry.from_status or '∅'} → {entry.to_status or '∅'}"
    extras = []
    for key, value in entry.detail.items():
        if isinstance(value, dict) and value.keys() == {"from", "to"}:
            # An edited field: what it was and what it became.
            was, now = (escaped(str(value[k]), 300) if value[k] else "∅" for k in ("from", "to"))
            extras.append(f"{key}: {was} → {now}")
        elif key in PEOPLE_DETAILS and value:
            people = value if isinstance(value, list) else [value]
            extras.append(f"{key}: {', '.join(who(str(person)) for person in people)}")
        elif value not in (None, "", {}, []):
            extras.append(f"{key}: {escaped(str(value), 600)}")
    extra = f" ({'; '.join(extras)})" if extras else ""
    when = entry.at.strftime("%Y-%m-%d %H:%M UTC")
    return f"`{when}` {who(entry.actor_id)} *{entry.action}*{move}{extra}"


def history(e: Experiment, entries: Sequence[AuditEntry]) -> Reply:
    blocks: list[Block] = [header(f"History of {e.key} · {e.title}")]
    blocks += sections([clip(_describe_entry(entry), 1000) for entry in entries])
    text = f"History of {e.key}: " + "; ".join(
        f"{x.action} {x.to_status or ''}".strip() for x in entries
    )
    return reply(text, blocks, more=CUT_TO_FIT)


# --- messages posted in the project channel (through the outbox) --------------------


def thread_root(e: Experiment) -> tuple[str, list[dict[str, Any]]]:
    """The experiment's thread starter; updated in place as the status changes."""
    text = f"{e.key} {escape(e.title)} — {e.status} (owner <@{e.owner_id}>)"
    return text, to_dicts(card(e, with_buttons=True), more=CUT_TO_FIT)


CHANGE_TEXT = {
    "start": "started",
    "analyze": "moved to analysis",
    "conclude": "concluded",
    "abandon": "abandoned",
    "link": "added a link to",
    "schedule": "scheduled engineering for",
    "ship": "shipped",
    "edited": "edited",
    "criterion_changed_after_start": "changed the success criterion of",
}
EDITED_FIELDS = ("title", "hypothesis", "criterion", "stream")


def change_message(e: Experiment, actor_id: str, action: str, detail: dict[str, Any]) -> str:
    verb = CHANGE_TEXT.get(action, action)
    text = f"<@{actor_id}> {verb} *{e.key}* — now {status_text(e)}"
    if action == "conclude":
        text += f"\n*Learnings:* {escaped(str(detail.get('learnings', '')), TEXT_ROOM)}"
    elif action == "abandon":
        text += f"\n*Reason:* {escaped(str(detail.get('reason', '')), TEXT_ROOM)}"
    elif action == "schedule" and detail.get("note"):
        text += f"\n*Note:* {escaped(str(detail['note']), TEXT_ROOM)}"
    elif action in ("edited", "criterion_changed_after_start"):
        for name in EDITED_FIELDS:
            if name in detail:
                was, now = (escaped(str(detail[name][k] or "∅"), 600) for k in ("from", "to"))
                text += f"\n*{name.capitalize()}:* {was} → {now}"
        if action == "criterion_changed_after_start":
            text += "\n:warning: after the experiment started: reviewers will see this."
    elif action == "link":
        label = escape(str(detail.get("label") or detail["url"]))
        text = f"<@{actor_id}> added a link to *{e.key}*: <{detail['url']}|{label}>"
    if detail.get("forced_past_wip_limit"):
        text += "\n:warning: started past a WIP limit with --force (logged)."
    return clip(text)


def project_intro(project: Project, actor_id: str) -> str:
    return (
        f"👋 <@{actor_id}> set this channel up as the home of project *{project.slug}*. "
        "Each experiment gets a thread here; try `/exp new "
        f"{project.slug} <title> --hypothesis …`."
    )

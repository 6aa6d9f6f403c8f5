"""The rotation: schedules, fairness tables, announcements and reminders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.model import AuditEntry, Role
from bot.domain.rotation import (
    WEEKDAYS,
    Absence,
    Agenda,
    PersonStats,
    RotationConfig,
    Slot,
    Topic,
)
from bot.services.rotation import Absences, Schedule
from bot.slack.blocks import (
    Reply,
    context,
    escape,
    header,
    reply,
    section,
    sections,
    to_dicts,
)

AGENDA_LIMIT = 30  # items, so an announcement stays within Slack's block limits
TOPIC_ICON = {Topic.SCIENCE: "🔬", Topic.ENGINEERING: "🛠️"}


def _who(user: str | None) -> str:
    return f"<@{user}>" if user else "_nobody available_"


def _skips(slot: Slot) -> str:
    # A dash, not parentheses: a reason may hold its own ("away (Slack status)").
    return ", ".join(f"<@{user}> — {why}" for user, why in slot.skipped)


def slot_topic(slot: Slot) -> str:
    """The week's topic, and the one it stands in for when that one's pool is empty."""
    if slot.instead_of is None:
        return str(slot.topic)
    return f"{slot.topic} (instead of {slot.instead_of}: nobody in its pool)"


def slot_line(slot: Slot) -> str:
    if slot.cancelled is not None:
        why = f" ({escape(slot.cancelled)})" if slot.cancelled else ""
        return f"`{slot.week:%a %Y-%m-%d}` ⏭️ ~{slot.topic}~ skipped{why}: no meeting"
    if slot.nobody_in_any_pool:
        return f"`{slot.week:%a %Y-%m-%d}` no meeting: nobody in any presenter pool"
    icon = TOPIC_ICON[slot.topic]
    line = f"`{slot.week:%a %Y-%m-%d}` {icon} {slot_topic(slot)}: {_who(slot.presenter)}"
    if slot.swapped_from:
        line += f" (swapped with <@{slot.swapped_from}>)"
    if slot.skipped:
        line += f" · skipped: {_skips(slot)}"
    return line


def schedule(plan: Schedule) -> Reply:
    c = plan.config
    blocks: list[Block] = [
        header(f"Review rotation · {plan.project.slug}"),
        context(
            f"Meets {WEEKDAYS[c.weekday].title()} {c.meeting:%H:%M} ({c.timezone}), announced"
            f" at {c.announce:%H:%M}. Topics in turn: {', '.join(c.pattern)}."
        ),
        *sections([slot_line(s) for s in plan.slots]),
        context("Exactly how the next weeks will go with today's pools, absences and swaps."),
    ]
    text = f"Rotation of {plan.project.slug}: " + "; ".join(_brief(s) for s in plan.slots)
    if plan.note:
        blocks.append(context(f"⚠️ {escape(plan.note)}"))
        text += f". {escape(plan.note)}"
    return reply(text, blocks)


def _brief(slot: Slot) -> str:
    if slot.cancelled is not None:
        return f"{slot.week} skipped"
    if slot.nobody_in_any_pool:
        return f"{slot.week} no meeting"
    text = f"{slot.week} {slot.topic} {slot.presenter or 'nobody'}"
    return text + (f" (instead of {slot.instead_of})" if slot.instead_of else "")


def fairness(plan: Schedule, table: dict[str, PersonStats], weeks: int) -> Reply:
    slug = plan.project.slug
    cancelled = [
        f"`{s.week:%a %Y-%m-%d}` skipped" + (f" ({escape(s.reason)})" if s.reason else "")
        for s in plan.skips
    ]
    if not plan.slots:
        none = f"No {slug} reviews were announced in the last {weeks} weeks."
        if not cancelled:
            return reply(none)
        return reply(f"{none} Skipped: {len(cancelled)}.", [section(none), *sections(cancelled)])
    lines = []
    for user, person in sorted(table.items(), key=lambda kv: (-kv[1].presented, kv[0])):
        skips = ", ".join(f"{n}× {why}" for why, n in person.skipped.items()) or "none"
        lines.append(
            f"<@{user}>: presented {person.presented}, skipped {skips}, swaps {person.swaps}"
        )
    blocks: list[Block] = [
        header(f"Rotation fairness · {slug} · last {weeks} weeks"),
        *sections(lines),
        *sections(cancelled),
        context(
            f"{len(plan.slots)} meeting(s) announced in the period"
            + (f", {len(cancelled)} skipped." if cancelled else ".")
        ),
    ]
    summary = "; ".join(f"{u} presented {p.presented}" for u, p in table.items())
    return reply(f"Rotation stats of {slug}: {summary}", blocks)


def config(project: str, value: RotationConfig, changed: bool) -> Reply:
    return reply(
        f"Rotation of *{project}* is {'now' if changed else 'currently'}: `{value.describe()}`"
    )


def joined(project: str, roles: list[Role], leave: bool) -> Reply:
    if leave:
        return reply(f"You left the {project} rotation.")
    pools = " and ".join(r.value for r in roles)
    return reply(f"You joined the {project} rotation ({pools} pool).")


def absence(start: str, end: str) -> Reply:
    return reply(f"Noted: out of office {start} to {end}. You keep your place in every rotation.")


def pool_empty(project: str, topics: list[Topic], slot: Slot) -> str:
    """Told once to the managers: a topic of the rotation has nobody to present."""
    names = " and ".join(f"*{t}*" for t in topics)
    if slot.nobody_in_any_pool:
        then = f"no review is announced on {slot.week:%a %d %b} or after until someone joins."
    else:
        then = f"*{slot.topic}* takes its weeks, from {slot.week:%a %d %b}, until someone joins."
    return (
        f"⚠️ The *{project}* review rotation has nobody in the {names} pool: {then}"
        f" Add people with `/mlgov member add @user <role> {project}`"
        " (scientists present science, engineers engineering)."
    )


def absences(found: Absences) -> Reply:
    """`/rotation ooo list`: yours, or a project's people's, that are not over."""
    if found.project is None:
        if not found.absences:
            return reply(
                "You have no absence recorded that is not over."
                " Add one with `/rotation ooo <from> <to>`."
            )
        lines = [f"• {a.start:%a %Y-%m-%d} to {a.end:%a %Y-%m-%d}" for a in found.absences]
        return reply(
            "Your absences:\n"
            + "\n".join(lines)
            + "\nWithdraw one with `/rotation ooo cancel <from>`."
        )
    slug = found.project.slug
    if not found.absences:
        return reply(f"Nobody on {slug} has an absence recorded that is not over.")
    lines = [
        f"• <@{a.user_id}> {a.start:%a %Y-%m-%d} to {a.end:%a %Y-%m-%d}" for a in found.absences
    ]
    return reply(f"Absences of people on {slug}:\n" + "\n".join(lines))


def absence_cancelled(cancelled: list[Absence], today: date) -> Reply:
    parts = []
    for a in cancelled:
        if a.start < today:
            parts.append(f"{a.start} to {a.end} now ends yesterday (the days past stay recorded)")
        else:
            parts.append(f"{a.start} to {a.end} withdrawn")
    return reply(f"Out of office {'; '.join(parts)}. `/rotation show` follows.")


def _agenda_item(entry: AuditEntry, name: str) -> str:
    line = f"• *{entry.experiment_key}* {escape(name)}: "
    if entry.action == "parity":
        passed = "passed" if entry.detail.get("passed") else "FAILED"
        rows = entry.detail.get("rows")
        return (
            line + f"parity check {passed}" + (f" ({rows:,} rows)" if isinstance(rows, int) else "")
        )
    outcome = entry.detail.get("outcome")
    return line + entry.action + (f" ({outcome})" if outcome else "")


def announcement(
    slot: Slot, agenda: Agenda, meeting: datetime, config: RotationConfig, note: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """The channel post before the meeting: topic, presenter, agenda from the board;
    ``note``: how the presenter was chosen, when that needs saying."""
    when = meeting.astimezone(config.zone)
    title = (
        f"{TOPIC_ICON[slot.topic]} {slot.topic.title()} review ·"
        f" {when:%a %d %b %H:%M} ({config.timezone})"
    )
    lines = [f"*Presenter:* {_who(slot.presenter)}"]
    if slot.instead_of is not None:
        lines.append(
            f"_{slot.instead_of.title()} has nobody in its pool, so {slot.topic} takes this week._"
        )
    if slot.swapped_from:
        lines.append(f"(swapped with <@{slot.swapped_from}>)")
    if slot.skipped:
        lines.append(f"Away this week: {_skips(slot)}")
    items = [_agenda_item(entry, name) for entry, name in agenda.moves]
    items += [f"• *{key}* {escape(name)}: in review" for key, name in agenda.in_review]
    since = "science" if slot.topic is Topic.SCIENCE else "engineering"
    what = (
        "concluded or in review"
        if slot.topic is Topic.SCIENCE
        else "scheduled, shipped or parity-checked"
    )
    blocks: list[Block] = [
        header(title),
        section("\n".join(lines)),
        section(f"*Agenda:* {what} since the last {since} review"),
        *sections(items[:AGENDA_LIMIT] or ["_Nothing new on the board; bring questions._"]),
    ]
    if len(items) > AGENDA_LIMIT:
        blocks.append(context(f"…and {len(items) - AGENDA_LIMIT} more on the board."))
    text = f"{slot.topic.title()} review {when:%a %d %b %H:%M}: {_who(slot.presenter)} presents"
    if note:
        blocks.append(context(f"⚠️ {escape(note)}"))
        text += f". {escape(note)}"
    return text, to_dicts(blocks)


def reminder(project: str, slot: Slot, meeting: datetime, config: RotationConfig) -> str:
    when = meeting.astimezone(config.zone)
    return (
        f"👋 You present at the *{project}* {slot.topic} review tomorrow,"
        f" {when:%a %d %b %H:%M} ({config.timezone}). Can't make it? Offer it to the others"
        f" with `/rotation swap request {slot.week}`, or tell us with `/rotation ooo`."
    )

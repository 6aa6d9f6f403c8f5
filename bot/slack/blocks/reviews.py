"""Peer review: the request in the thread (with buttons), progress, lists, the gate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.evaluation import EvaluationRecord
from bot.domain.model import Experiment
from bot.domain.review import Decision, Review, ReviewKind, Verdict
from bot.slack.blocks import (
    CUT_TO_FIT,
    Reply,
    actions,
    button,
    context,
    escape,
    escaped,
    header,
    reply,
    section,
    sections,
    to_dicts,
)
from bot.slack.blocks import who as named  # `who` is a local name below

APPROVE, CHANGES, DECLINE = "review_approve", "review_changes", "review_decline"
CHECKLIST = (
    "Hypothesis and success criterion were written before the results",
    "Held-out data untouched by training and tuning",
    "Baseline scored on the same rows",
    "The metric fits the product goal",
    "Alternatives were considered",
    "The prototype is reproducible",
)
VERDICT_ICON = {
    Verdict.PENDING: "⏳",
    Verdict.APPROVED: "✅",
    Verdict.CHANGES: "✋",
    Verdict.DECLINED: "↪️",
    Verdict.REPLACED: "↪️",
}


def ref(review: Review) -> str:
    """The outbox name of the request message, so that later updates edit it."""
    return f"review:{review.id}"


def _status_lines(review: Review, owner: str, quorum: int) -> list[str]:
    lines = [
        f"{VERDICT_ICON[a.verdict]} <@{a.reviewer}> {a.verdict.value.replace('_', ' ')}"
        for a in review.assignments
    ]
    outsiders = [
        d
        for d in review.latest().values()
        if d.reviewer not in {a.reviewer for a in review.assignments}
    ]
    lines += [
        f"{'✅' if d.approve else '✋'} <@{d.reviewer}>"
        f" {'approved' if d.approve else 'requested changes'}"
        for d in outsiders
    ]
    lines.append(
        f"*{len(review.approvals(owner))} of {quorum}* approvals"
        + ("" if review.open else " · review closed")
        + (" · 🙋 *needs a reviewer*" if review.open and review.needs_reviewer else "")
    )
    return lines


def _metric_line(experiment: Experiment, evaluation: EvaluationRecord | None) -> str:
    """The latest evaluation's verdict, so reviewers see what they approve."""
    if evaluation is None:
        return "_Metric summary against the baseline: none recorded yet._"
    from bot.domain.summary import Summary
    from bot.slack.blocks.evaluations import headline

    line = headline(experiment, Summary.from_json(evaluation.summary), None)
    return (
        f"*Metric summary* (evaluation #{evaluation.id}, `/exp metrics {experiment.key}`): {line}"
    )


def request(
    experiment: Experiment,
    review: Review,
    quorum: int,
    evaluation: EvaluationRecord | None = None,
    note: str = "",
) -> tuple[str, list[dict[str, Any]]]:
    """The request posted in the experiment's thread, updated as decisions arrive;
    ``note``: how the reviewers were chosen, when that needs saying."""
    e = experiment
    what = "design" if review.kind is ReviewKind.DESIGN else "results"
    summary = [
        f"*Hypothesis:* {escaped(e.hypothesis, 1200) or '_none written_'}",
        f"*Success criterion:* {escape(e.criterion.describe()) if e.criterion else '_none_'}",
    ]
    if e.criterion_changed_after_start:
        summary.append(
            f"⚠️ *Criterion changed after the experiment started* (`/exp history {e.key}`)"
        )
    if review.kind is ReviewKind.RESULTS:
        summary.append(f"*Outcome:* {e.outcome or '—'} · *Learnings:* {escaped(e.learnings, 1200)}")
        summary.append(_metric_line(experiment, evaluation))
    blocks: list[Block] = [
        header(f"Review of the {what} · {e.key}"),
        section("\n".join(summary)),
        section("*Checklist*\n" + "\n".join(f"☐ {item}" for item in CHECKLIST)),
        *sections(_status_lines(review, e.owner_id, quorum)),
    ]
    if review.open:
        value = str(review.id)
        blocks.append(
            actions(
                button("Approve", APPROVE, value, "primary"),
                button("Request changes…", CHANGES, value, "danger"),
                button("Can't review", DECLINE, value),
                block_id=f"review:{review.id}",
            )
        )
    if note:
        blocks.append(context(f"⚠️ {escape(note)}"))
    text = f"Review of the {what} of {e.key} {escape(e.title)}: " + ", ".join(
        f"<@{a.reviewer}>" for a in review.assignments
    )
    if note:
        text += f". {escape(note)}"
    return text, to_dicts(blocks, more=CUT_TO_FIT)


def asked(experiment: Experiment, reviewer: str, kind: ReviewKind, by: str) -> str:
    return (
        f"👀 {named(by)} asks you to review the {kind} of *{experiment.key}*"
        f" {escape(experiment.title)} ({experiment.project}). The request, with Approve and"
        " Request changes buttons, is in the experiment's thread; or type"
        f" `/review approve {experiment.key}` / `/review changes {experiment.key} <reason>`."
    )


def decided(
    experiment: Experiment, decision: Decision, approvals: int, quorum: int, moved_to: str | None
) -> str:
    verb = "approved" if decision.approve else "requested changes to"
    text = f"<@{decision.reviewer}> {verb} *{experiment.key}* ({approvals} of {quorum} approvals)"
    if decision.text:
        text += f"\n> {escape(decision.text)}"
    if moved_to:
        text += f"\nNow {moved_to}."
    return text


def reviewer_changed(
    experiment: Experiment,
    leaving: str,
    successor: str | None,
    why: str,
    reason: str,
    note: str = "",
) -> str:
    verb = "was replaced on" if why == "replaced" else why
    text = f"<@{leaving}> {verb} the review of *{experiment.key}*"
    if reason:
        text += f" ({escape(reason)})"
    text += (
        f"; <@{successor}> takes over."
        if successor
        else "; nobody else can take over: it needs a reviewer (the managers are told)."
    )
    if note:
        text += f"\n⚠️ {escape(note)}"
    return text


def reopened(
    experiment: Experiment, evaluation_id: int, dismissed: int, asked: Sequence[str]
) -> str:
    """Why a results review opened again, in the experiment's thread."""
    who = ", ".join(f"<@{u}>" for u in asked) or "nobody yet"
    return (
        f"🔁 New results (evaluation #{evaluation_id}) dismissed {dismissed}"
        f" approval{'s' if dismissed != 1 else ''}; review reopened ({experiment.key} is"
        f" {experiment.status}). Asked to review again: {who}."
    )


def asked_again(experiment: Experiment, evaluation_id: int) -> str:
    return (
        f"🔁 New results for *{experiment.key}* {escape(experiment.title)}"
        f" ({experiment.project}, evaluation #{evaluation_id}) dismissed the approvals of"
        " the earlier ones: please review again. The request is in the experiment's thread;"
        f" or `/review approve {experiment.key}` / `/review changes {experiment.key} <reason>`."
    )


def needs_reviewer(experiment: Experiment, kind: ReviewKind, reason: str) -> str:
    """To the project's managers (once per review) and the thread; ``reason`` is mlgov's
    own text, with mentions."""
    key, project = experiment.key, experiment.project
    return (
        f"🙋 The {kind} review of *{key}* {escape(experiment.title)} ({project}) needs a"
        f" reviewer: {reason}. Name one with `/review request {key} {kind} @someone`,"
        f" add a scientist (`/mlgov member add @user scientist {project}`), or lower the"
        f" quorum (`/mlgov rules {project} quorum=…`)."
    )


def requested_reply(experiment: Experiment, reviewers: Sequence[str], kind: ReviewKind) -> Reply:
    who = ", ".join(f"<@{r}>" for r in reviewers)
    return reply(
        f"Asked {who} to review the {kind} of *{experiment.key}*; the request is in its thread."
    )


def decision_reply(
    experiment: Experiment,
    approve: bool,
    approvals: int,
    quorum: int,
    status: str,
    *,
    repeated: bool = False,
) -> Reply:
    count = f"{approvals} of {quorum} approvals; it is {status}"
    if repeated:
        return reply(f"You already approved *{experiment.key}*: nothing changes ({count}).")
    verb = "Approved" if approve else "Requested changes to"
    return reply(f"{verb} *{experiment.key}* ({count}).")


def pending(items: Sequence[tuple[Experiment, Review, list[str], int]], what: str) -> Reply:
    if not items:
        return reply(f"No reviews ({what}).")
    lines = [
        f"*{e.key}* {escape(e.title)} · {r.kind} · "
        + (f"waiting on {', '.join(f'<@{u}>' for u in waiting)}" if waiting else "nobody asked")
        + f" · {age} working day(s)"
        + (" · 🙋 *needs a reviewer*" if r.needs_reviewer else "")
        for e, r, waiting, age in items
    ]
    blocks: list[Block] = [section(f"*{len(items)} review(s)* — {what}"), *sections(lines[:40])]
    if len(lines) > 40:
        blocks.append(context(f"…and {len(lines) - 40} more."))
    return reply("; ".join(f"{e.key} {r.kind}" for e, r, _, _ in items[:20]), blocks)


def reminder(experiment: Experiment, days: int) -> str:
    return (
        f"⏰ The review of *{experiment.key}* {escape(experiment.title)} has waited on you"
        f" for {days} working days. `/review approve {experiment.key}`,"
        f" `/review changes {experiment.key} <reason>`, or `/review decline"
        f" {experiment.key}` to hand it on."
    )


def overdue(experiment: Experiment, reviewer: str, days: int) -> str:
    return (
        f"📣 The review of *{experiment.key}* {escape(experiment.title)}"
        f" ({experiment.project}) has waited on <@{reviewer}> for {days} working days."
    )

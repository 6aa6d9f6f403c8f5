"""Swaps, skipped meetings, swap requests (the **Take it** post) and calendar subscriptions."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import Block

from bot.domain.rotation import Moved, Offer, RotationConfig, Slot, SwapRequest
from bot.services.rotation_skips import Skipped
from bot.services.swaps import Swapped
from bot.slack.blocks import Reply, actions, button, context, escape, reply, section, to_dicts
from bot.slack.blocks.rotation import slot_line

TAKE = "rotation_take"


def offer_ref(request: SwapRequest) -> str:
    """The outbox name of the offer's channel post, so that its end edits it."""
    return f"swap-offer:{request.id}"


def day_month(day: date) -> str:
    """``7 Dec``, as people write a date in a sentence."""
    return f"{day.day} {day:%b}"


def _meeting(offer: Offer) -> str:
    when = offer.meeting.astimezone(offer.config.zone)
    return (
        f"the *{offer.project.slug}* {offer.slot.topic} review,"
        f" {when:%a} {day_month(when.date())} {when:%H:%M} ({offer.config.timezone})"
    )


def offer_post(offer: Offer) -> tuple[str, list[dict[str, Any]]]:
    """The channel post: who can't present when, and the button to take the week."""
    request = offer.request
    text = f"<@{request.presenter}> can't present on {day_month(request.week)} — Take it"
    lines = (
        f"🔁 <@{request.presenter}> can't present on {day_month(request.week)}: {_meeting(offer)}."
    )
    if request.requested_by != request.presenter:
        lines += f" (offered by <@{request.requested_by}>)"
    blocks: list[Block] = [
        section(lines),
        actions(button("Take it", TAKE, str(request.id), "primary")),
        context(f"Anyone in the {offer.slot.topic} pool who is not away that day can take it."),
    ]
    return text, to_dicts(blocks)


def offer_taken_post(offer: Offer) -> tuple[str, list[dict[str, Any]]]:
    """The post once taken: the button replaced by who took it."""
    request = offer.request
    text = (
        f"✅ <@{request.taken_by}> took <@{request.presenter}>'s {day_month(request.week)}"
        f" presentation: {_meeting(offer)}."
    )
    return text, to_dicts([section(text)])


def offer_closed_post(request: SwapRequest, why: str) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f"~<@{request.presenter}> can't present on {day_month(request.week)}~"
        f" — no longer open: {why}."
    )
    return text, to_dicts([section(text)])


def offered(offer: Offer) -> Reply:
    return reply(
        f"Offered your {day_month(offer.request.week)} presentation in the"
        f" {offer.project.slug} channel: the first of the {offer.slot.topic} pool to press"
        " *Take it* presents instead. Nobody within 2 working days: the managers are told."
    )


def _in_exchange(offer: Offer, to_presenter: bool) -> str:
    """What the taker gives back: their later week, which the presenter now presents."""
    request = offer.request
    if offer.traded is None:
        if to_presenter:
            return " Nobody else's meetings move."
        return " Nobody else's meetings move (you have no later meeting to trade for it)."
    when = f"{offer.traded:%a} {day_month(offer.traded)}"
    if to_presenter:
        return f" In exchange you present <@{request.taken_by}>'s {when} meeting instead."
    return (
        f" In exchange <@{request.presenter}> presents your {when} meeting;"
        " nobody else's meetings move."
    )


def took(offer: Offer) -> Reply:
    return reply(
        f"You present on {day_month(offer.request.week)} instead of"
        f" <@{offer.request.presenter}>: {_meeting(offer)}.{_in_exchange(offer, False)}"
        " Thank you!"
    )


def taken_dm(offer: Offer, to_presenter: bool) -> str:
    request = offer.request
    if to_presenter:
        return (
            f"🔁 <@{request.taken_by}> takes your {day_month(request.week)} presentation:"
            f" {_meeting(offer)}.{_in_exchange(offer, True)}"
        )
    return (
        f"🔁 You present on {day_month(request.week)} instead of <@{request.presenter}>:"
        f" {_meeting(offer)}.{_in_exchange(offer, False)}"
    )


def unanswered(offer: Offer) -> str:
    """The managers' DM; its command works as written (a mention, the project named)."""
    request, slug = offer.request, offer.project.slug
    return (
        f"⚠️ Nobody has taken <@{request.presenter}>'s {day_month(request.week)} presentation"
        f" ({_meeting(offer)}) since it was offered. Hand it to someone with"
        f" `/rotation swap <@{request.presenter}> @someone {request.week} --project {slug}`,"
        f" or skip the meeting with `/rotation skip {request.week} --project {slug}`."
    )


# --- swaps ----------------------------------------------------------------------------


def swapped(done: Swapped) -> Reply:
    """The reply to `/rotation swap`: the week as it is now and what was traded for it."""
    slot, traded = done.slot, done.traded
    if traded is not None and traded.presenter is not None:
        then = (
            f" In exchange <@{traded.presenter}> presents on {traded.week:%a %Y-%m-%d} instead"
            f" of <@{slot.presenter}>."
        )
    else:
        then = f" <@{slot.presenter}> has no later meeting to trade: a plain hand-over."
    traders = (slot.presenter, done.outgoing)
    others = [m.user for m in done.moved if m.user not in traders]
    tail = " Nobody else's meetings move."
    if others:  # should not happen (a swap credits the one due), but if so they are named
        tail = f" Also moved: {', '.join(f'<@{u}>' for u in others)}."
    if done.told:
        tail += f" Told by DM: {', '.join(f'<@{u}>' for u in done.told)}."
    return reply(f"Swapped: {slot_line(slot)}.{then}{tail}")


def moved_dm(project: str, config: RotationConfig, moved: Moved) -> str:
    """A person whose planned weeks a swap changed (``moved`` names the weeks)."""

    def days(weeks: tuple[date, ...]) -> str:
        return ", ".join(f"{w:%a} {day_month(w)}" for w in weeks)

    parts = []
    if moved.gained:
        parts.append(f"you now present on {days(moved.gained)}")
    if moved.lost:
        parts.append(f"you no longer present on {days(moved.lost)}")
    return (
        f"🔁 A swap changed your *{project}* review presentations: {' and '.join(parts)}"
        f" ({config.meeting:%H:%M} {config.timezone}). `/rotation show {project}` lists them."
    )


# --- skipped meetings -----------------------------------------------------------------


def skipped(done: Skipped) -> Reply:
    slug, week = done.project.slug, done.slot.week
    why = f" ({escape(done.slot.cancelled)})" if done.slot.cancelled else ""
    head = (
        f"Skipped the {slug} meeting of {week:%a %Y-%m-%d}{why}: no announcement, nobody loses"
        " their place, the weeks after it shift."
    )
    return _with_next(head, done)


def skip_cancelled(done: Skipped) -> Reply:
    head = f"The {done.project.slug} meeting of {done.slot.week:%a %Y-%m-%d} is held after all."
    return _with_next(head, done, include_first=True)


def _with_next(head: str, done: Skipped, include_first: bool = False) -> Reply:
    slots = [done.slot, *done.after] if include_first else done.after
    lines = [slot_line(s) for s in slots]
    blocks: list[Block] = [
        section(head),
        section("\n".join(lines)),
        context("`/rotation show` lists more."),
    ]
    return reply(head, blocks)


def skipped_dm(project: str, slot: Slot, reason: str, again: date | None) -> str:
    why = f" ({escape(reason)})" if reason else ""
    then = (
        f" You keep your place: you present next on {again:%a %Y-%m-%d}."
        if again
        else " You keep your place in the rotation."
    )
    return (
        f"🗓️ The *{project}* {slot.topic} review of {slot.week:%a} {day_month(slot.week)},"
        f" which you were to present, is skipped{why}: no meeting that week.{then}"
    )


def shifted_dm(project: str, change: Slot, was: date | None, now: Slot | None) -> str:
    """A skip (or its withdrawal) moved someone's next presentation."""
    meeting = f"The *{project}* meeting of {change.week:%a} {day_month(change.week)}"
    if change.cancelled is not None:
        why = f" ({escape(change.cancelled)})" if change.cancelled else ""
        what = f"{meeting} is skipped{why}, so the meetings after it move by one"
    else:
        what = f"{meeting} is held after all, so the meetings after it move back by one"
    if now is None:
        then = "you no longer present in the weeks planned"
    else:
        then = f"you present the {now.topic} review on {now.week:%a %Y-%m-%d}"
    instead = f" instead of {was:%a %Y-%m-%d}" if was is not None else ""
    return f"🗓️ {what}: {then}{instead}. `/rotation show` lists the weeks ahead."


# --- calendar subscriptions -----------------------------------------------------------


def calendar_sent(feed: str) -> Reply:
    what = "your personal calendar" if feed == "me" else f"the {feed} calendar"
    return reply(
        f"Sent you the URL of {what} by direct message. Keep it to yourself: anyone with it"
        " can read the feed (`/rotation calendar reset` revokes it)."
    )


def calendar_dm(feed: str, url: str) -> str:
    if feed == "me":
        what = "the meetings you present and the reviews you owe, in every project"
    else:
        what = f"every planned *{feed}* review meeting of the next 12 weeks"
    return (
        f"🗓️ Subscribe to this URL in your calendar (Google Calendar: *Other calendars → From"
        f" URL*; Outlook: *Add calendar → Subscribe from web*; Apple Calendar: *File → New"
        f" Calendar Subscription*) to see {what}, kept up to date:\n{url}\n"
        "It is a secret: anyone with it can read the feed. `/rotation calendar reset` revokes it."
    )


def calendar_dm_scrubbed(feed: str) -> str:
    """What mlgov keeps of that DM once sent: the URL's key is stored only as its hash."""
    return f"🗓️ (the {feed} calendar URL sent here; mlgov keeps only its key's hash)"


def calendar_reset(revoked: int, feed: str | None) -> Reply:
    which = (
        "all your calendar URLs"
        if feed is None
        else ("your personal calendar URLs" if feed == "me" else f"your {feed} calendar URLs")
    )
    if not revoked:
        of = "" if feed is None else " for your personal feed" if feed == "me" else f" for {feed}"
        return reply(f"Nothing to revoke: you have no live calendar URLs{of}.")
    return reply(
        f"Revoked {which} ({revoked}): calendars subscribed with them stop updating."
        " `/rotation calendar` gives you a new one."
    )

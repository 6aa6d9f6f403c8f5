"""/review handlers, and /exp schedule|ship (the gate)."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import (
    DecideReview,
    DeclineReview,
    ListReviews,
    RequestReview,
    ScheduleEngineering,
    Ship,
)
from bot.domain.review import ReviewKind
from bot.services import reviews
from bot.services.ports import Context
from bot.slack.blocks import Reply, reply
from bot.slack.blocks import experiments as experiment_render
from bot.slack.blocks import reviews as render
from storage.unit_of_work import UnitOfWork


def request(uow: UnitOfWork, ctx: Context, cmd: RequestReview) -> Reply:
    kind = ReviewKind(cmd.kind) if cmd.kind else None
    done = reviews.request_review(uow, ctx, cmd.number, kind, list(cmd.reviewers))
    return render.requested_reply(done.experiment, done.reviewers, done.review.kind)


def decide(uow: UnitOfWork, ctx: Context, cmd: DecideReview) -> Reply:
    done = reviews.decide(uow, ctx, cmd.number, cmd.approve, cmd.text, cmd.review_id)
    return render.decision_reply(
        done.experiment,
        cmd.approve,
        done.approvals,
        done.quorum,
        done.experiment.status.value,
        repeated=done.repeated,
    )


def decline(uow: UnitOfWork, ctx: Context, cmd: DeclineReview) -> Reply:
    successor = reviews.decline(uow, ctx, cmd.number, cmd.reason, cmd.review_id)
    who = (
        f"<@{successor}> takes over"
        if successor
        else "nobody else can take over, so it needs a reviewer (the managers are told)"
    )
    return reply(f"Declined the review of EXP-{cmd.number}; {who}.")


def listing(uow: UnitOfWork, ctx: Context, cmd: ListReviews) -> Reply:
    return render.pending(reviews.list_reviews(uow, ctx, cmd.which), cmd.which)


def schedule(uow: UnitOfWork, ctx: Context, cmd: ScheduleEngineering) -> Reply:
    moved = reviews.schedule_engineering(uow, ctx, cmd.number, cmd.note)
    e = moved.after
    return reply(
        f"{e.key}: {moved.before.status} → {e.status}. Engineering may start.",
        experiment_render.card(e),
    )


def ship(uow: UnitOfWork, ctx: Context, cmd: Ship) -> Reply:
    moved = reviews.ship(uow, ctx, cmd.number)
    return reply(
        f"{moved.after.key}: {moved.before.status} → {moved.after.status} 🚀",
        experiment_render.card(moved.after),
    )


HANDLERS: dict[type, Any] = {
    RequestReview: request,
    DecideReview: decide,
    DeclineReview: decline,
    ListReviews: listing,
    ScheduleEngineering: schedule,
    Ship: ship,
}

"""/digest handlers."""

from __future__ import annotations

from typing import Any

from bot.domain.commands import PreviewDigest, SubscribeDigest
from bot.services import digest
from bot.services.ports import Context
from bot.slack.blocks import Reply, reply
from bot.slack.blocks import digest as render
from storage.unit_of_work import UnitOfWork


def preview(uow: UnitOfWork, ctx: Context, cmd: PreviewDigest) -> Reply:
    return render.preview(digest.preview(uow, ctx, cmd.project, last=cmd.last))


def subscribe(uow: UnitOfWork, ctx: Context, cmd: SubscribeDigest) -> Reply:
    scope = digest.subscribe(uow, ctx, cmd.project, on=cmd.on)
    if cmd.on:
        return reply(f"You will get the weekly digest of {scope} by DM.")
    return reply(f"You will no longer get the weekly digest of {scope}.")


HANDLERS: dict[type, Any] = {PreviewDigest: preview, SubscribeDigest: subscribe}

"""What Slack told the outbox about a workspace's methods and channels, shared by workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, update
from sqlalchemy.orm import Session

from storage.models import BlockedChannelRow, OutboxHoldRow, OutboxRow
from storage.sql import insert_ignoring_conflicts


def not_held(now: datetime) -> ColumnElement[bool]:
    """A filter keeping outbox rows whose workspace and method are not rate-limited at ``now``."""
    return ~exists().where(
        OutboxHoldRow.team_id == OutboxRow.team_id,
        OutboxHoldRow.method == OutboxRow.method,
        OutboxHoldRow.until > now,
    )


def blocked_channel() -> ColumnElement[bool]:
    """A column: whether Slack refused us the outbox row's channel (read with the lease, so
    a delivery costs no extra statement when, as nearly always, it was not refused)."""
    return exists().where(
        BlockedChannelRow.team_id == OutboxRow.team_id,
        BlockedChannelRow.channel == OutboxRow.channel,
    )


class DeliveryState:
    def __init__(self, session: Session) -> None:
        self.session = session

    def hold(self, team_id: str, method: str, until: datetime) -> None:
        """No call of ``method`` in ``team_id`` before ``until`` (a later hold wins)."""
        values = {"team_id": team_id, "method": method, "until": until}
        if not insert_ignoring_conflicts(self.session, OutboxHoldRow, values):
            self.session.execute(
                update(OutboxHoldRow)
                .where(
                    OutboxHoldRow.team_id == team_id,
                    OutboxHoldRow.method == method,
                    OutboxHoldRow.until < until,
                )
                .values(until=until)
            )

    def restart_give_up_clock(self, team_id: str, now: datetime) -> None:
        """The workspace resumes: its waiting messages get their full day of retries again
        (they waited for a reinstall, not on a failing Slack)."""
        self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.team_id == team_id, OutboxRow.sent_at.is_(None), ~OutboxRow.dead)
            .values(created_at=now)
        )

    def block_channel(self, team_id: str, channel: str, reason: str, now: datetime) -> bool:
        """Record that Slack refuses us ``channel``; True the first time (tell people once)."""
        values = {"team_id": team_id, "channel": channel, "reason": reason[:64], "since": now}
        return insert_ignoring_conflicts(self.session, BlockedChannelRow, values)

    def unblock_channel(self, team_id: str, channel: str) -> None:
        """A delivery got through: a later refusal is news again."""
        self.session.execute(
            delete(BlockedChannelRow).where(
                BlockedChannelRow.team_id == team_id, BlockedChannelRow.channel == channel
            )
        )

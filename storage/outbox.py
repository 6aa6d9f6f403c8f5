"""The dispatcher's side of the outbox: lease the head message of each channel, settle it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from bot.domain.model import RESPONSE_URL, SCRUB_AFTER_DELIVERY
from storage.delivery_state import blocked_channel, not_held
from storage.models import ExperimentRow, OutboxRow
from storage.pauses import not_paused
from storage.sql import affected
from storage.unit_of_work import Database, UnitOfWork

# Work a service does in the transaction that settles a message (pause, hold, tell people).
Also = Callable[[UnitOfWork], None]


@dataclass(frozen=True)
class PendingMessage:
    id: int
    team_id: str
    channel: str
    method: str
    payload: dict[str, Any]
    experiment_id: int | None
    thread_root: bool
    attempts: int
    created_at: datetime
    ref: str | None = None
    # Slack refused us the channel already (its managers were told): no join, no news.
    channel_blocked: bool = False


class OutboxStore:
    """Leases keep one worker per message; only a channel's oldest message is ever leased,
    so each channel's messages go out in order across any number of workers."""

    def __init__(
        self,
        db: Database,
        owner: str,
        # Renewed while the message is being sent (the dispatcher's heartbeat), so a file
        # upload's three 10 s calls keep it; a message a killed process held goes out again
        # once it runs out, so it is short.
        lease: timedelta = timedelta(seconds=10),
        team_id: str | None = None,
    ) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease
        # A worker for one workspace only (the shell) never takes another's messages.
        self.team_id = team_id

    def _pending(self) -> ColumnElement[bool]:
        condition = and_(OutboxRow.sent_at.is_(None), OutboxRow.dead.is_(False))
        if self.team_id is not None:
            condition = and_(condition, OutboxRow.team_id == self.team_id)
        return condition

    def lease_heads(self, now: datetime, limit: int = 5) -> list[PendingMessage]:
        """Lease the oldest undelivered message of each channel that is due and free.

        They are sent one after another (10 s timeout each), and each must be settled
        within the lease or renewed (``renew``), or another worker could send it again: the
        dispatcher leases one at a time and renews it while it is being sent.
        """
        heads = select(func.min(OutboxRow.id)).where(self._pending()).group_by(OutboxRow.channel)
        free = or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now)
        # A paused workspace's messages wait (its data is kept), except replies to a
        # response_url, which need no bot token; a rate-limited method of a workspace
        # waits out its Retry-After, while other methods and workspaces go on.
        running = or_(not_paused(OutboxRow.team_id), OutboxRow.method == RESPONSE_URL)
        leased: list[PendingMessage] = []
        with self.db.read() as uow:  # most polls find nothing: no write lock for them
            waiting = select(OutboxRow.id).where(self._pending(), running).limit(1)
            if uow.session.scalar(waiting) is None:
                return leased
        with self.db.write() as uow:
            rows = uow.session.execute(
                select(OutboxRow, blocked_channel())
                .where(
                    OutboxRow.id.in_(heads),
                    OutboxRow.next_attempt_at <= now,
                    free,
                    running,
                    not_held(now),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
            ).all()
            for row, blocked in rows:
                taken = affected(
                    uow.session.execute(
                        update(OutboxRow)
                        .where(OutboxRow.id == row.id, OutboxRow.sent_at.is_(None), free)
                        .values(lease_owner=self.owner, lease_until=now + self.lease)
                        .execution_options(synchronize_session=False)
                    )
                )
                if taken == 1:
                    leased.append(
                        PendingMessage(
                            row.id,
                            row.team_id,
                            row.channel,
                            row.method,
                            dict(row.payload),
                            row.experiment_id,
                            row.thread_root,
                            row.attempts,
                            row.created_at,
                            row.ref,
                            bool(blocked),
                        )
                    )
            uow.commit()
        return leased

    def renew(self, message_id: int, now: datetime) -> None:
        """Extend the lease of a message still being sent here (the heartbeat). A message
        settled meanwhile (its lease cleared) or taken over by another worker is left alone."""
        with self.db.write() as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == message_id,
                    OutboxRow.lease_owner == self.owner,
                    OutboxRow.lease_until.is_not(None),
                    OutboxRow.sent_at.is_(None),
                    OutboxRow.dead.is_(False),
                )
                .values(lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            uow.commit()

    def ts_of(self, ref: str) -> str | None:
        """The ts Slack gave the delivered message named ``ref``."""
        with self.db.read() as uow:
            return uow.session.scalar(
                select(OutboxRow.result_ts)
                .where(
                    OutboxRow.ref == ref,
                    OutboxRow.method == "chat.postMessage",
                    OutboxRow.sent_at.is_not(None),
                )
                .order_by(OutboxRow.id.desc())
                .limit(1)
            )

    def thread_ts(self, experiment_id: int) -> str | None:
        with self.db.read() as uow:
            return uow.experiments.thread_of(experiment_id)

    def delivered(self, message: PendingMessage, now: datetime, ts: str | None) -> None:
        """Record the delivery (as the method it went out as: an update of a message that
        never went out is posted instead, and later updates must find that post). A message
        that held a secret keeps only what replaces it (SCRUB_AFTER_DELIVERY)."""
        scrubbed: dict[str, Any] = {}
        if SCRUB_AFTER_DELIVERY in message.payload:
            kept = {"channel": message.payload.get("channel")}
            scrubbed["payload"] = {**kept, "text": message.payload[SCRUB_AFTER_DELIVERY]}
        with self.db.write() as uow:
            self._settle(
                uow,
                message,
                **scrubbed,
                method=message.method,
                sent_at=now,
                result_ts=ts,
                lease_until=None,
                attempts=message.attempts + 1,
                last_error=None,
            )
            if message.thread_root and message.experiment_id is not None and ts:
                uow.session.execute(
                    update(ExperimentRow)
                    .where(
                        ExperimentRow.id == message.experiment_id, ExperimentRow.thread_ts.is_(None)
                    )
                    .values(thread_ts=ts)
                )
            if message.channel_blocked:
                uow.delivery.unblock_channel(message.team_id, message.channel)
            uow.commit()

    def retry_later(
        self, message: PendingMessage, at: datetime, error: str, also: Also | None = None
    ) -> None:
        with self.db.write() as uow:
            self._settle(
                uow,
                message,
                next_attempt_at=at,
                lease_until=None,
                attempts=message.attempts + 1,
                last_error=error[:500],
            )
            if also is not None:
                also(uow)
            uow.commit()

    def release(self, message: PendingMessage, at: datetime) -> None:
        """Hand a leased message back unsent, due at ``at`` (it was not tried)."""
        with self.db.write() as uow:
            self._settle(uow, message, next_attempt_at=at, lease_until=None)
            uow.commit()

    def give_up(self, message: PendingMessage, error: str, also: Also | None = None) -> None:
        with self.db.write() as uow:
            self._settle(
                uow,
                message,
                dead=True,
                lease_until=None,
                attempts=message.attempts + 1,
                last_error=error[:500],
            )
            if also is not None:
                also(uow)
            uow.commit()

    def _settle(self, uow: Any, message: PendingMessage, **values: Any) -> None:
        uow.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == message.id, OutboxRow.lease_owner == self.owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def pending_count(self) -> int:
        with self.db.read() as uow:
            return int(uow.session.scalar(select(func.count()).where(self._pending())) or 0)

"""The Slack statuses mlgov last read, stored so that every process and every planning
path sees the same ones (bot.services.availability)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.availability import SlackStatus
from storage.sql import dialect_insert
from storage.status_rows import SlackStatusRow

EMOJI_CHARS = 100
TEXT_CHARS = 200  # Slack allows 100 characters of status text


class StoredStatuses:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, team_id: str, statuses: Mapping[str, SlackStatus], read_at: datetime) -> None:
        """Keep what Slack answered for each person at ``read_at`` (replacing what was kept;
        an older reading arriving late does not replace a newer one)."""
        if not statuses:
            return
        table = SlackStatusRow.__table__
        rows = [
            {
                "team_id": team_id,
                "user_id": user,
                "emoji": status.emoji[:EMOJI_CHARS],
                "text": status.text[:TEXT_CHARS],
                "expires": status.expires,
                "read_at": read_at,
            }
            for user, status in statuses.items()
        ]
        insert = dialect_insert(self.session, table).values(rows)
        newer = insert.excluded.read_at >= table.c.read_at
        statement = insert.on_conflict_do_update(
            index_elements=["team_id", "user_id"],
            set_={c: insert.excluded[c] for c in ("emoji", "text", "expires", "read_at")},
            where=newer,
        )
        self.session.execute(statement)

    def of(
        self, team_id: str, users: Sequence[str], since: datetime | None = None
    ) -> dict[str, SlackStatus]:
        """The stored statuses of ``users`` (read at ``since`` or later, when given), each
        with when it was read."""
        if not users:
            return {}
        statement = select(SlackStatusRow).where(
            SlackStatusRow.team_id == team_id, SlackStatusRow.user_id.in_(list(users))
        )
        if since is not None:
            statement = statement.where(SlackStatusRow.read_at >= since)
        return _statuses(self.session.scalars(statement))

    def of_team(self, team_id: str) -> dict[str, SlackStatus]:
        """Every stored status of the workspace (cleared ones too: empty)."""
        statement = select(SlackStatusRow).where(SlackStatusRow.team_id == team_id)
        return _statuses(self.session.scalars(statement))


def _statuses(rows: Iterable[SlackStatusRow]) -> dict[str, SlackStatus]:
    return {row.user_id: SlackStatus(row.emoji, row.text, row.expires, row.read_at) for row in rows}

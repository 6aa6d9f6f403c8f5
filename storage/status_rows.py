"""Rows of the Slack statuses mlgov last read (SPEC §13): what every planning path that
must not call Slack (calendar feeds, Home, digest, read API) plans with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UtcDateTime


class SlackStatusRow(Base):
    """A person's Slack status as users.profile.get last answered it (an empty one too:
    a cleared status replaces the one before). A cache of Slack's, so no foreign key: a
    row of a workspace mlgov no longer knows harms nothing."""

    __tablename__ = "slack_statuses"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(200))
    expires: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)

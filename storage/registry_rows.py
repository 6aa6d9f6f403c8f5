"""Rows of the gate in MLflow's registry (SPEC §12): the model versions mlgov looked at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, JsonType, UtcDateTime


class RegistryVersionRow(Base):
    """A model version of MLflow's registry that mlgov looked at (SPEC §12): the gate tags
    it wants on it, what its warnings said, and whether a check is owed (``due_at``, with
    backoff while MLflow is down). A change to its experiment makes the check due in the
    change's own transaction; the tags are written to MLflow after the commit."""

    __tablename__ = "registry_versions"
    __table_args__ = (
        UniqueConstraint("model", "version"),
        CheckConstraint("gate IN ('', 'blocked', 'passed')", name="gate_known"),
        Index(
            "ix_registry_versions_due",
            "due_at",
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id"), nullable=True, index=True
    )
    # '' while its run belongs to no experiment (mlgov then leaves the version alone).
    gate: Mapped[str] = mapped_column(String(8), default="")
    wanted: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # mlgov.* tags
    aliases: Mapped[list[str]] = mapped_column(JsonType, default=list)  # as last read
    warned: Mapped[list[str]] = mapped_column(JsonType, default=list)  # "registered", "alias:x"
    # A check is owed from then on (None: none).
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    due_seq: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every mark
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

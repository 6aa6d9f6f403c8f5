"""Rows of the MLflow link (SPEC §12): the runs mlgov follows and the sync's cursor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.domain.mlflow_runs import Outcome
from storage.models import Base, JsonType, UtcDateTime, _in


class MlflowRunRow(Base):
    """A run linked to an experiment (by its tag or by hand), as the sync last saw it."""

    __tablename__ = "mlflow_runs"
    __table_args__ = (
        UniqueConstraint("team_id", "run_id"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', Outcome)}", name="outcome_known"),
        Index("ix_mlflow_runs_experiment", "experiment_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    run_id: Mapped[str] = mapped_column(String(64))
    # None: the tag names no experiment of the workspace (the run is skipped, once).
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=True
    )
    tag: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(250), default="")
    url: Mapped[str] = mapped_column(String(2000))
    linked_by: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The sync looked once, when it first saw the run going, whether to offer Start (the
    # offer itself is claimed once per experiment in the run ledger).
    start_checked: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the sync did once the run ended; None while there is something left to do.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluations.id"), nullable=True
    )
    metrics: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MlflowCursorRow(Base):
    """How far back the sync looks: runs that started at or after ``start_ms`` (MLflow's
    clock, milliseconds) are searched; every earlier run is done with."""

    __tablename__ = "mlflow_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

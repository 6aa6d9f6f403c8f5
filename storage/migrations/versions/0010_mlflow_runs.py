"""MLflow: the runs linked to experiments and the sync's cursor

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
OUTCOMES = "('imported', 'no-predictions', 'refused', 'failed', 'skipped')"


def upgrade() -> None:
    op.create_table(
        "mlflow_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mlflow_cursor")),
    )
    op.create_table(
        "mlflow_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("linked_by", sa.String(length=32), nullable=False),
        sa.Column("linked_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("start_checked", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("evaluation_id", sa.Integer(), nullable=True),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"outcome IS NULL OR outcome IN {OUTCOMES}", name=op.f("ck_mlflow_runs_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_mlflow_runs_evaluation_id_evaluations"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_mlflow_runs_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["workspaces.team_id"], name=op.f("fk_mlflow_runs_team_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mlflow_runs")),
        sa.UniqueConstraint("team_id", "run_id", name=op.f("uq_mlflow_runs_team_id")),
    )
    op.create_index("ix_mlflow_runs_experiment", "mlflow_runs", ["experiment_id", "id"])
    op.create_index(op.f("ix_mlflow_runs_outcome"), "mlflow_runs", ["outcome"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mlflow_runs_outcome"), table_name="mlflow_runs")
    op.drop_index("ix_mlflow_runs_experiment", table_name="mlflow_runs")
    op.drop_table("mlflow_runs")
    op.drop_table("mlflow_cursor")

"""registry_versions: the gate's tags on MLflow model versions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
DUE = sa.text("due_at IS NOT NULL")


def upgrade() -> None:
    json = storage.models.JsonType
    when = storage.models.UtcDateTime(timezone=True)
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("gate", sa.String(length=8), nullable=False),
        sa.Column("wanted", json, nullable=False),
        sa.Column("aliases", json, nullable=False),
        sa.Column("warned", json, nullable=False),
        sa.Column("due_at", when, nullable=True),
        sa.Column("due_seq", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("seen_at", when, nullable=False),
        sa.Column("checked_at", when, nullable=True),
        sa.CheckConstraint(
            "gate IN ('', 'blocked', 'passed')", name=op.f("ck_registry_versions_gate_known")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_registry_versions_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_versions")),
        sa.UniqueConstraint("model", "version", name=op.f("uq_registry_versions_model")),
    )
    with op.batch_alter_table("registry_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_versions_experiment_id"), ["experiment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_versions_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "ix_registry_versions_due",
            ["due_at"],
            unique=False,
            sqlite_where=DUE,
            postgresql_where=DUE,
        )


def downgrade() -> None:
    with op.batch_alter_table("registry_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_registry_versions_due")
        batch_op.drop_index(batch_op.f("ix_registry_versions_run_id"))
        batch_op.drop_index(batch_op.f("ix_registry_versions_experiment_id"))
    op.drop_table("registry_versions")

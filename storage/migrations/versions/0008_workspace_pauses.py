"""workspace pauses, per-method rate-limit holds, blocked channels

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 05:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paused_at", storage.models.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("paused_reason", sa.String(length=64), nullable=True))
    op.create_table(
        "outbox_holds",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("until", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "method", name=op.f("pk_outbox_holds")),
    )
    op.create_table(
        "blocked_channels",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("since", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel", name=op.f("pk_blocked_channels")),
    )


def downgrade() -> None:
    op.drop_table("blocked_channels")
    op.drop_table("outbox_holds")
    # Native DROP COLUMN (SQLite >= 3.35): recreating the table would drop "workspaces",
    # which every project references, and foreign keys are on.
    with op.batch_alter_table("workspaces", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("paused_at")

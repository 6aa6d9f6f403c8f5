"""snoozed reminders and workspace rules

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("workspaces", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("rules", json, nullable=True))
    op.create_table(
        "snoozes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("until", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('review', 'stale')", name=op.f("ck_snoozes_kind")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["workspaces.team_id"], name=op.f("fk_snoozes_team_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snoozes")),
        sa.UniqueConstraint(
            "team_id", "user_id", "kind", "subject", name=op.f("uq_snoozes_team_id")
        ),
    )
    op.create_index("ix_snoozes_due", "snoozes", ["sent_at", "until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_snoozes_due", table_name="snoozes")
    op.drop_table("snoozes")
    # Native DROP COLUMN (SQLite >= 3.35), as in 0008.
    with op.batch_alter_table("workspaces", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("rules")

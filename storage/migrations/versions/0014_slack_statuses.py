"""the Slack statuses last read

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_statuses",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("emoji", sa.String(length=100), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("expires", storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("read_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_slack_statuses")),
    )


def downgrade() -> None:
    op.drop_table("slack_statuses")

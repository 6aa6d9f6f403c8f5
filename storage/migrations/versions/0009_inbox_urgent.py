"""inbox: urgent rows (answered by a form) first

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Plain ALTER TABLE and CREATE INDEX on both backends: a batch (table copy) on SQLite
    # cannot carry an index on an expression (urgent DESC).
    op.add_column(
        "inbox", sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        [sa.column("urgent").desc(), "id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    # Native DROP COLUMN (SQLite >= 3.35), as in 0008.
    with op.batch_alter_table("inbox", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("urgent")

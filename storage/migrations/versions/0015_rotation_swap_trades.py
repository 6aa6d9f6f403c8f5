"""rotation swaps: a trade (credited to the one due) or an older one-sided hand-over

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Swaps recorded before trades were hand-overs, planned crediting whoever presented:
    # they stay so (false), or upgrading would silently replan every team that swapped.
    op.add_column(
        "rotation_swaps",
        sa.Column("trade", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite >= 3.35), as in 0008.
    with op.batch_alter_table("rotation_swaps", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("trade")

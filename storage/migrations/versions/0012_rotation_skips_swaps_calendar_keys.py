"""rotation skips, swap requests, calendar keys

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_calendar_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["workspaces.team_id"], name=op.f("fk_calendar_keys_team_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_calendar_keys_key_hash")),
    )
    with op.batch_alter_table("calendar_keys", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_keys_user", ["team_id", "user_id"], unique=False)

    op.create_table(
        "rotation_skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_rotation_skips_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_skips")),
        sa.UniqueConstraint("project_id", "week", name=op.f("uq_rotation_skips_project_id")),
    )
    op.create_table(
        "rotation_swap_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("presenter", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=32), nullable=True),
        sa.Column("closed_at", storage.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_rotation_swap_requests_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_swap_requests")),
    )
    with op.batch_alter_table("rotation_swap_requests", schema=None) as batch_op:
        batch_op.create_index(
            "uq_rotation_swap_requests_open",
            ["project_id", "week"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rotation_swap_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rotation_swap_requests_open",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.drop_table("rotation_swap_requests")
    op.drop_table("rotation_skips")
    with op.batch_alter_table("calendar_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_keys_user")

    op.drop_table("calendar_keys")

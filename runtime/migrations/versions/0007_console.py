"""Console sign-in: passwords and browser sessions

Revision ID: 0007_console
Revises: 0006_assign
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_console"
down_revision = "0006_assign"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sf_password",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=255), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "sf_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_sf_session_user_id", "sf_session", ["user_id"])
    op.create_table(
        "sf_setting",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("sf_setting")
    op.drop_index("ix_sf_session_user_id", table_name="sf_session")
    op.drop_table("sf_session")
    op.drop_table("sf_password")

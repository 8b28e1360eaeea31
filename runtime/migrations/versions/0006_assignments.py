"""Named assignments: the people beside a record's owner (form `assignments`)

Revision ID: 0006_assign
Revises: 0005
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_assign"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sf_assignment",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("filled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("record_id", "name"),
    )
    op.create_index("ix_sf_assignment_user_id", "sf_assignment", ["user_id"])
    op.create_index("ix_sf_assignment_queue", "sf_assignment", ["queue"])


def downgrade() -> None:
    op.drop_index("ix_sf_assignment_queue", table_name="sf_assignment")
    op.drop_index("ix_sf_assignment_user_id", table_name="sf_assignment")
    op.drop_table("sf_assignment")

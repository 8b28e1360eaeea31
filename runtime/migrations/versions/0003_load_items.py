"""Load items: which owned records count in their owner's load

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sf_load_item",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    # Until now every open, owned record counted in its owner's load: say so.
    op.execute(
        sa.text(
            "INSERT INTO sf_load_item (record_id, owner, counted, until) "
            "SELECT id, owner, :counted, NULL FROM sf_record "
            "WHERE status = 'open' AND owner IS NOT NULL"
        ).bindparams(counted=True)
    )


def downgrade() -> None:
    op.drop_table("sf_load_item")

"""Metric snapshots: a metric's value per group at each time its `snapshot` cadence took it

Revision ID: 0005
Revises: 0004_reevaluation
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_reevaluation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sf_metric_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sf_metric_snapshot_metric", "sf_metric_snapshot", ["metric"])
    op.create_index("ix_sf_metric_snapshot_at", "sf_metric_snapshot", ["at"])


def downgrade() -> None:
    op.drop_index("ix_sf_metric_snapshot_at", table_name="sf_metric_snapshot")
    op.drop_index("ix_sf_metric_snapshot_metric", table_name="sf_metric_snapshot")
    op.drop_table("sf_metric_snapshot")

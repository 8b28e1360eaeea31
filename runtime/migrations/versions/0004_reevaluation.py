"""Re-evaluation on model change: decision versions and the job table

Revision ID: 0004_reevaluation
Revises: 0003
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reevaluation"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sf_decision") as batch:
        batch.add_column(sa.Column("version", sa.String(length=16), nullable=True))
    op.create_table(
        "sf_reevaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("records", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(length=32), nullable=True),
        sa.Column("bundle_hash", sa.String(length=64), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sf_reevaluation_rule", "sf_reevaluation", ["kind", "rule", "id"])


def downgrade() -> None:
    op.drop_index("ix_sf_reevaluation_rule", table_name="sf_reevaluation")
    op.drop_table("sf_reevaluation")
    with op.batch_alter_table("sf_decision") as batch:
        batch.drop_column("version")

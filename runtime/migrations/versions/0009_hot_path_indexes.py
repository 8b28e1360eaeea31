"""Write-path speed: drop the audit log's index on `at`, which no query reads

Every event insert paid for an entry in `ix_sf_event_at` (a page more in a commit's
WAL), yet every read of `sf_event` looks events up by record (`ix_sf_event_record_id`)
or by kind (`ix_sf_event_kind_record`) and orders by id; `at` is only compared within
rows already found that way (decision NN).

Revision ID: 0009_hot_path_indexes
Revises: 0008_console_indexes
Create Date: 2026-12-05 00:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_hot_path_indexes"
down_revision = "0008_console_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sf_event_at", table_name="sf_event")


def downgrade() -> None:
    op.create_index("ix_sf_event_at", "sf_event", ["at"])

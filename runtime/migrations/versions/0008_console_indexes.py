"""Console speed: indexes for the funnel, dwell and forecast reads

Revision ID: 0008_console_indexes
Revises: 0007_console
Create Date: 2026-12-04 21:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0008_console_indexes"
down_revision = "0007_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_sf_record_workflow_status_stage", "sf_record", ["workflow", "status", "stage"]
    )
    op.drop_index("ix_sf_stage_history_wf_stage", table_name="sf_stage_history")
    op.create_index(
        "ix_sf_stage_history_wf_stage_record",
        "sf_stage_history",
        ["workflow", "stage", "record_id"],
    )
    op.create_index(
        "ix_sf_stage_history_wf_to_record",
        "sf_stage_history",
        ["workflow", "to_stage", "record_id"],
    )
    op.drop_index("ix_sf_stage_history_record_id", table_name="sf_stage_history")
    op.create_index(
        "ix_sf_stage_history_record_wf_stage",
        "sf_stage_history",
        ["record_id", "workflow", "stage"],
    )
    op.create_index("ix_sf_event_kind_record", "sf_event", ["kind", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_sf_event_kind_record", table_name="sf_event")
    op.drop_index("ix_sf_stage_history_record_wf_stage", table_name="sf_stage_history")
    op.create_index("ix_sf_stage_history_record_id", "sf_stage_history", ["record_id"])
    op.drop_index("ix_sf_stage_history_wf_to_record", table_name="sf_stage_history")
    op.drop_index("ix_sf_stage_history_wf_stage_record", table_name="sf_stage_history")
    op.create_index("ix_sf_stage_history_wf_stage", "sf_stage_history", ["workflow", "stage"])
    op.drop_index("ix_sf_record_workflow_status_stage", table_name="sf_record")

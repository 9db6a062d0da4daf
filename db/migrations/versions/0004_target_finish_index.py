"""targets: (job_id, stage, status, finished_at) replaces (job_id, stage, status), so a stage's
recent completions (progress rates, the web page's jobs view) are a range, not a scan

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_targets_job_id_stage_status_finished_at"),
            ["job_id", "stage", "status", "finished_at"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_targets_job_id_stage_status"))


def downgrade() -> None:
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_targets_job_id_stage_status"), ["job_id", "stage", "status"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_targets_job_id_stage_status_finished_at"))

"""subset_members: vstart and vdur, the picture span (vsamples) of each member, in ms

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subset_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vstart", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("vdur", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subset_members", schema=None) as batch_op:
        batch_op.drop_column("vdur")
        batch_op.drop_column("vstart")

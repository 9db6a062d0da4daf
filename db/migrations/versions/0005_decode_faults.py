"""files: bad_packets and nonfinite_samples, what decoding a file's audio had to repair

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bad_packets", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("nonfinite_samples", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("nonfinite_samples")
        batch_op.drop_column("bad_packets")

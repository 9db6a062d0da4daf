"""subset_candidates: each file's per-file subset stage, stored when its samples are written

The subset query ranks every passing file's samples (filter, staged sort, per-file limit) and
then the union. At 10 M samples the per-file stage was 79 % of the query (docs/scale.md). It
depends only on the file and the spec's per-file part, which the job spec fixes at submit, so
the analyze task now computes it in the transaction that writes the file's samples and stores
it here; the job's subset is then only the global stage over these rows.

One row per candidate (sample id, start, the numeric sort key values k0..k3) and one marker row
per (file, spec) with sample_id 0, saying the file's set is complete. Keyed by
(file_id, spec_key, sample_id): deleting a file's rows and reading one file's set are both a
prefix of the primary key. No foreign keys (rows are bulk-written beside samples and leave
with them through db/bulk.py). Nothing is back-filled: a catalog analysed before 0009 has no
candidates and its subsets take the query on samples, which gives the same members.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subset_candidates",
        sa.Column("file_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("spec_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sample_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("start", sa.Float(), nullable=True),
        sa.Column("k0", sa.Float(), nullable=True),
        sa.Column("k1", sa.Float(), nullable=True),
        sa.Column("k2", sa.Float(), nullable=True),
        sa.Column("k3", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("file_id", "spec_key", "sample_id",
                                name=op.f("pk_subset_candidates")),
    )


def downgrade() -> None:
    op.drop_table("subset_candidates")

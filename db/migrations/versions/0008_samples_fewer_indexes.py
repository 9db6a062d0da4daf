"""samples on PostgreSQL: drop the (job_id, file_id) index (bulk inserts pay for every B-tree)

Each index costs every inserted sample an entry. On PostgreSQL samples keep two: the primary
key (`id`: subset members, vector reads, the web page) and `file_id` (a file's samples: replace,
delete, the per-file subset stage). `(job_id, file_id)` served only queries that name a job,
and those now reach samples through the job's files (`file_id IN (SELECT id FROM files WHERE
job_id = …)`, the file_id index). Same rows, in turn, at load ~15: 33,000 -> 46,400 rows/s
(1.41x; docs/bench-catalog.md). SQLite keeps it (its inserts are not bound by it and it makes
no difference there to plan).

Hash partitioning of `samples` by file_id was measured in the same run and not adopted:
8 partitions, 38,400 rows/s (0.83x the plain table: every row is routed, and the primary key
must carry file_id). Nothing else changes; no data moves.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_samples_job_id_file_id", table_name="samples")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_samples_job_id_file_id", "samples", ["job_id", "file_id"])

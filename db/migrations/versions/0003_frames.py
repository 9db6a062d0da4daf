"""frames: per-file frame sets, loops within files, duplicates across files

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "frame_sets",
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("every", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.SmallInteger(), nullable=False),
        sa.Column("decode_errors", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"],
                                name=op.f("fk_frame_sets_file_id_files"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_frame_sets")),
    )
    op.create_table(
        "loops",
        sa.Column("id", _ID, nullable=False),
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("first_frame", sa.Integer(), nullable=False),
        sa.Column("repeat_frame", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("first_start", sa.Float(), nullable=False),
        sa.Column("repeat_start", sa.Float(), nullable=False),
        sa.Column("length", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("period", sa.Float(), nullable=True),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], name=op.f("fk_loops_file_id_files"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_loops_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loops")),
    )
    with op.batch_alter_table("loops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loops_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loops_file_id"), ["file_id"], unique=False)
    op.create_table(
        "duplicates",
        sa.Column("id", _ID, nullable=False),
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("file_a", _ID, nullable=False),
        sa.Column("file_b", _ID, nullable=False),
        sa.Column("a_frame", sa.Integer(), nullable=False),
        sa.Column("b_frame", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("a_start", sa.Float(), nullable=False),
        sa.Column("b_start", sa.Float(), nullable=False),
        sa.Column("length", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["file_a"], ["files.id"], name=op.f("fk_duplicates_file_a_files"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["file_b"], ["files.id"], name=op.f("fk_duplicates_file_b_files"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_duplicates_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicates")),
    )
    with op.batch_alter_table("duplicates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicates_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicates_file_a"), ["file_a"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicates_file_b"), ["file_b"], unique=False)


def downgrade() -> None:
    op.drop_table("duplicates")
    op.drop_table("loops")
    op.drop_table("frame_sets")

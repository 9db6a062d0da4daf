"""samples: vectors move to sample_vectors (one row per file); PostgreSQL drops the covering index

The 39-float vector was 156 of a sample row's ~260 bytes and PostgreSQL's bulk inserts are bound
by the bytes and index entries written. Each file's vectors become one `sample_vectors` row
(n x 39 little-endian float32 in idx order, stored uncompressed out of line on PostgreSQL so
slices are cheap), and the samples row keeps only the features. On PostgreSQL the wide covering
index `ix_samples_subset_scan` (~70 bytes a row) gives way to a plain `file_id` index that
B-tree deduplication keeps to a few bytes a row: with narrow rows, the subset query reads each
passing file's one or two heap pages through it (docs/bench-catalog.md).

Existing vectors are moved, not dropped, both ways. A file whose idx values are not exactly
0..n-1 keeps its vectors at their idx (NaN rows fill any gap; duplicates keep the lowest id).
Vectors of samples whose file row is gone (orphans: samples have no foreign keys) are dropped,
since a `sample_vectors` row belongs to a file. PostgreSQL drops the column without rewriting
the table; `VACUUM FULL samples` returns the space when convenient.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:40:00
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DIM, WIDTH = 39, 39 * 4
BLANK = np.full(DIM, np.nan, dtype="<f4").tobytes()
FILE_CHUNK = 2_000
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pg(bind: sa.engine.Connection) -> bool:
    """True on PostgreSQL."""
    return bind.dialect.name == "postgresql"


def _move_regular_files_in_sql(bind: sa.engine.Connection) -> None:
    """PostgreSQL: files whose idx is exactly 0..n-1, aggregated by the server in idx order."""
    bind.execute(sa.text(
        "INSERT INTO sample_vectors (file_id, job_id, count, data) "
        "SELECT file_id, min(job_id), count(*), "
        "       string_agg(coalesce(vector, :blank), ''::bytea ORDER BY idx) "
        "FROM samples WHERE file_id IN (SELECT id FROM files) GROUP BY file_id "
        "HAVING bool_or(vector IS NOT NULL) AND min(idx) = 0 AND max(idx) = count(*) - 1 "
        "   AND count(DISTINCT idx) = count(*) AND bool_and(coalesce(length(vector), :w) = :w)"
    ), {"blank": BLANK, "w": WIDTH})


def _move_remaining_files(bind: sa.engine.Connection) -> None:
    """Every file with vectors not moved yet, read and packed in Python (all files on SQLite)."""
    todo = bind.execute(sa.text(
        "SELECT DISTINCT file_id FROM samples WHERE vector IS NOT NULL "
        "AND file_id IN (SELECT id FROM files) "
        "AND file_id NOT IN (SELECT file_id FROM sample_vectors) ORDER BY file_id"
    )).scalars().all()
    table = sa.table("sample_vectors", sa.column("file_id"), sa.column("job_id"),
                     sa.column("count"), sa.column("data"))  # fmt: skip
    for start in range(0, len(todo), FILE_CHUNK):
        chunk = list(todo[start : start + FILE_CHUNK])
        rows = bind.execute(
            sa.text("SELECT file_id, job_id, idx, vector FROM samples "
                    "WHERE file_id IN :ids ORDER BY file_id, idx DESC, id DESC")
            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": chunk}
        ).all()  # fmt: skip
        packed: dict[int, tuple[int, dict[int, bytes]]] = {}
        for fid, jid, idx, vec in rows:  # descending, so the lowest id of a duplicate idx wins
            entry = packed.setdefault(fid, (jid, {}))
            if idx >= 0:
                entry[1][idx] = bytes(vec) if vec is not None and len(vec) == WIDTH else BLANK
        values = []
        for fid, (jid, by_idx) in packed.items():
            count = max(by_idx) + 1 if by_idx else 0
            data = b"".join(by_idx.get(i, BLANK) for i in range(count))
            values.append({"file_id": fid, "job_id": jid, "count": count, "data": data})
        if values:
            bind.execute(sa.insert(table), values)


def _restore_rows_in_python(bind: sa.engine.Connection) -> None:
    """SQLite: each file's vectors back into its rows, its data read once (SQLite's substr
    would read a whole film's data again for every one of its samples)."""
    fids = bind.execute(sa.text("SELECT file_id FROM sample_vectors ORDER BY file_id")).scalars()
    stmt = sa.text("UPDATE samples SET vector = :v WHERE file_id = :f AND idx = :i")
    for fid in list(fids):
        count, data = bind.execute(sa.text(
            "SELECT count, data FROM sample_vectors WHERE file_id = :f"), {"f": fid}).one()
        params = [{"v": bytes(data[i * WIDTH : (i + 1) * WIDTH]), "f": fid, "i": i}
                  for i in range(count)]  # fmt: skip
        if params:
            bind.execute(stmt, params)


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "sample_vectors",
        sa.Column("file_id", BigId, autoincrement=False, nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_sample_vectors_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_sample_vectors")),
    )
    if _pg(bind):
        # uncompressed (random floats do not compress) and out of line: substring reads slices
        op.execute("ALTER TABLE sample_vectors ALTER COLUMN data SET STORAGE EXTERNAL")
        _move_regular_files_in_sql(bind)
    _move_remaining_files(bind)
    with op.batch_alter_table("samples", schema=None) as batch_op:
        if _pg(bind):
            batch_op.drop_index("ix_samples_subset_scan")
            batch_op.create_index(batch_op.f("ix_samples_file_id"), ["file_id"], unique=False)
        batch_op.drop_column("vector")


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))
    if _pg(bind):
        op.execute(
            "UPDATE samples s SET vector = substring(v.data FROM s.idx * 156 + 1 FOR 156) "
            "FROM sample_vectors v WHERE v.file_id = s.file_id AND s.idx >= 0 "
            "AND s.idx < v.count"
        )
    else:
        _restore_rows_in_python(bind)
    if _pg(bind):
        op.drop_index(op.f("ix_samples_file_id"), table_name="samples")
        op.create_index(
            "ix_samples_subset_scan", "samples", ["file_id", "start", "id"], unique=False,
            postgresql_include=["power", "clarity", "octave", "hz", "dur"],
        )
    op.drop_table("sample_vectors")

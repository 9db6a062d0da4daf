"""Bulk sample writes: replace a file's samples in one transaction (COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from db.models import Sample

VECTOR_DIM = 39
FEATURES = ("start", "dur", "power", "hz", "note", "octave", "midi", "clarity")
COPY_COLUMNS = ("job_id", "file_id", "idx", *FEATURES, "vector")
_COPY_TYPES = ["int8", "int8", "int4", "float8", "float8", "float8", "float8", "text", "int2",
               "float8", "float8", "bytea"]  # fmt: skip
_READ_CHUNK = 20_000


def _prepared(
    columns: Mapping[str, Sequence[Any] | np.ndarray], vectors: np.ndarray | None
) -> tuple[int, dict[str, list[Any]], list[bytes | None]]:
    """Row count, the columns as Python lists, and each row's vector bytes (or None)."""
    missing = [k for k in FEATURES if k not in columns]
    if missing:
        raise ValueError(f"replace_samples: missing column(s) {', '.join(missing)}")
    n = len(columns["start"])
    out: dict[str, list[Any]] = {}
    for key in FEATURES:
        values = np.asarray(columns[key])
        if len(values) != n:
            raise ValueError(f"replace_samples: column {key} has {len(values)} rows, not {n}")
        out[key] = values.astype(str).tolist() if key == "note" else values.tolist()
    out["idx"] = (np.asarray(columns["idx"]) if "idx" in columns else np.arange(n)).tolist()
    if len(out["idx"]) != n:
        raise ValueError(f"replace_samples: column idx has {len(out['idx'])} rows, not {n}")
    out["octave"] = [int(v) for v in out["octave"]]
    if vectors is None:
        return n, out, [None] * n
    vec = np.ascontiguousarray(vectors, dtype="<f4")
    if vec.shape != (n, VECTOR_DIM):
        raise ValueError(f"replace_samples: vectors shape {vec.shape}, expected ({n}, 39)")
    raw = vec.tobytes()
    size = VECTOR_DIM * 4
    return n, out, [raw[i * size : (i + 1) * size] for i in range(n)]


def _copy_postgres(session: Session, job_id: int, file_id: int, n: int, cols, vecs) -> None:  # type: ignore[no-untyped-def]
    """Rows in by binary COPY on the session's own connection (same transaction)."""
    dbapi = session.connection().connection.driver_connection
    sql = f"COPY samples ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    rows = zip(
        [job_id] * n, [file_id] * n, cols["idx"], *(cols[k] for k in FEATURES), vecs, strict=True
    )
    with dbapi.cursor() as cur, cur.copy(sql) as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def _insert_many(session: Session, job_id: int, file_id: int, n: int, cols, vecs) -> None:  # type: ignore[no-untyped-def]
    """Rows in by one executemany of a Core insert (SQLite and other backends)."""
    keys = ("idx", *FEATURES)
    params = [
        {"job_id": job_id, "file_id": file_id, "vector": vecs[i], **{k: cols[k][i] for k in keys}}
        for i in range(n)
    ]
    if params:
        session.execute(insert(Sample), params)


def replace_samples(
    session: Session,
    *,
    job_id: int,
    file_id: int,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    vectors: np.ndarray | None,
) -> int:
    """Delete the file's samples and insert the new ones in the session's transaction; the count.

    `columns` holds idx (optional: 0..n-1), start, dur, power, hz, note, octave, midi, clarity;
    `vectors` is (n, 39) float32 or None. Idempotent: re-running leaves the same rows.
    """
    n, cols, vecs = _prepared(columns, vectors)
    session.execute(delete(Sample).where(Sample.file_id == file_id))
    if n == 0:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        _copy_postgres(session, job_id, file_id, n, cols, vecs)
    else:
        _insert_many(session, job_id, file_id, n, cols, vecs)
    return n


def load_vectors(session: Session, sample_ids: Sequence[int]) -> np.ndarray:
    """The samples' vectors as an (n, 39) float32 array in the given order (NaN rows if none)."""
    ids = [int(i) for i in sample_ids]
    found: dict[int, bytes | None] = {}
    stmt = select(Sample.id, Sample.vector).where(Sample.id.in_(bindparam("ids", expanding=True)))
    for start in range(0, len(ids), _READ_CHUNK):
        chunk = ids[start : start + _READ_CHUNK]
        found.update((sid, vec) for sid, vec in session.execute(stmt, {"ids": chunk}))
    missing = [i for i in ids if i not in found]
    if missing:
        raise KeyError(f"no sample with id {missing[0]} ({len(missing)} missing)")
    out = np.full((len(ids), VECTOR_DIM), np.nan, dtype=np.float32)
    size = VECTOR_DIM * 4
    for row, sid in enumerate(ids):
        raw = found[sid]
        if raw is not None and len(raw) == size:
            out[row] = np.frombuffer(raw, dtype="<f4")
    return out

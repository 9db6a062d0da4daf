"""Bulk sample writes: replace files' samples in one transaction (binary COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from db.models import Sample

VECTOR_DIM = 39
VECTOR_BYTES = VECTOR_DIM * 4
FEATURES = ("start", "dur", "power", "hz", "note", "octave", "midi", "clarity")
COPY_COLUMNS = ("job_id", "file_id", "idx", *FEATURES, "vector")
# Binary COPY field layout: (column, numpy big-endian type) for the fixed-width fields.
_FIXED = {
    "job_id": ">i8", "file_id": ">i8", "idx": ">i4", "start": ">f8", "dur": ">f8",
    "power": ">f8", "hz": ">f8", "octave": ">i2", "midi": ">f8", "clarity": ">f8",
}  # fmt: skip
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_PGCOPY_TRAILER = b"\xff\xff"
_DELETE_CHUNK = 5_000
_COPY_ROWS = 200_000
_READ_CHUNK = 20_000


@dataclass
class SampleBatch:
    """One file's new samples as equal-length numpy columns, with optional vectors."""

    file_id: int
    columns: dict[str, np.ndarray]
    vectors: np.ndarray | None

    @property
    def size(self) -> int:
        """Number of samples."""
        return len(self.columns["start"])


def make_batch(
    file_id: int, columns: Mapping[str, Sequence[Any] | np.ndarray], vectors: np.ndarray | None
) -> SampleBatch:
    """Check and normalise one file's columns (idx defaults to 0..n-1) and vectors."""
    missing = [k for k in FEATURES if k not in columns]
    if missing:
        raise ValueError(f"replace_samples: missing column(s) {', '.join(missing)}")
    n = len(columns["start"])
    cols: dict[str, np.ndarray] = {}
    for key in (*FEATURES, "idx"):
        if key == "idx" and key not in columns:
            values = np.arange(n)
        else:
            values = np.asarray(columns[key], dtype=str if key == "note" else None)
        if len(values) != n:
            raise ValueError(f"replace_samples: column {key} has {len(values)} rows, not {n}")
        cols[key] = values
    vec = None
    if vectors is not None:
        vec = np.ascontiguousarray(vectors, dtype="<f4")
        if vec.shape != (n, VECTOR_DIM):
            raise ValueError(f"replace_samples: vectors shape {vec.shape}, expected ({n}, 39)")
    return SampleBatch(file_id, cols, vec)


def _concat(job_id: int, batches: Sequence[SampleBatch]) -> tuple[dict[str, np.ndarray], Any]:
    """All batches as one set of columns; vectors as an (n, 39) array, a list, or None."""
    cols = {k: np.concatenate([b.columns[k] for b in batches]) for k in (*FEATURES, "idx")}
    n = len(cols["start"])
    cols["job_id"] = np.full(n, job_id, dtype=np.int64)
    cols["file_id"] = np.concatenate([np.full(b.size, b.file_id, np.int64) for b in batches])
    if all(b.vectors is None for b in batches):
        return cols, None
    if all(b.vectors is not None for b in batches):
        return cols, np.concatenate([b.vectors for b in batches])  # type: ignore[misc]
    return cols, [row for b in batches for row in (b.vectors if b.vectors is not None
                                                   else [None] * b.size)]  # fmt: skip


def copy_payload(cols: Mapping[str, np.ndarray], vectors: np.ndarray | None) -> bytes:
    """PostgreSQL binary COPY data for the rows, built with numpy (no per-row Python)."""
    n = len(cols["start"])
    notes = np.char.encode(cols["note"].astype(str), "utf-8")
    lengths = np.char.str_len(notes)
    has_vec = vectors is not None
    groups = []
    for length in np.unique(lengths):
        rows = np.nonzero(lengths == length)[0]
        fields: list[tuple[str, Any]] = [("count", ">i2")]
        for name in COPY_COLUMNS:
            fields.append((f"len_{name}", ">i4"))
            if name == "note":
                if length:
                    fields.append(("note", f"S{length}"))
            elif name == "vector":
                if has_vec:
                    fields.append(("vector", f"V{VECTOR_BYTES}"))
            else:
                fields.append((name, _FIXED[name]))
        rec = np.empty(len(rows), dtype=fields)
        rec["count"] = len(COPY_COLUMNS)
        for name in COPY_COLUMNS:
            if name == "note":
                rec["len_note"] = length
                if length:
                    rec["note"] = notes[rows]
            elif name == "vector":
                rec["len_vector"] = VECTOR_BYTES if has_vec else -1
                if has_vec:
                    rec["vector"] = vectors[rows].view(f"V{VECTOR_BYTES}").reshape(-1)
            else:
                rec[f"len_{name}"] = np.dtype(_FIXED[name]).itemsize
                rec[name] = cols[name][rows]
        groups.append((rows, rec))
    if len(groups) == 1:
        body = groups[0][1].tobytes()
    else:  # rows of different widths, interleaved back into their original order
        parts = np.empty(n, dtype=object)
        for rows, rec in groups:
            raw, width = rec.tobytes(), rec.dtype.itemsize
            parts[rows] = [raw[i : i + width] for i in range(0, len(raw), width)]
        body = b"".join(parts.tolist())
    return _PGCOPY_HEADER + body + _PGCOPY_TRAILER


def _copy_postgres(session: Session, cols: dict[str, np.ndarray], vectors: Any) -> None:
    """Rows in by binary COPY on the session's own connection (same transaction)."""
    dbapi = session.connection().connection.driver_connection
    sql = f"COPY samples ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    n = len(cols["start"])
    with dbapi.cursor() as cur:
        if isinstance(vectors, list):  # some files with vectors, some without: row by row
            types = ["int8", "int8", "int4", "float8", "float8", "float8", "float8", "text",
                     "int2", "float8", "float8", "bytea"]  # fmt: skip
            with cur.copy(sql) as copy:
                copy.set_types(types)
                lists = [cols[c].tolist() for c in COPY_COLUMNS[:-1]]
                for i in range(n):
                    vec = vectors[i]
                    raw = None if vec is None else np.asarray(vec, "<f4").tobytes()
                    copy.write_row([col[i] for col in lists] + [raw])
            return
        for start in range(0, n, _COPY_ROWS):
            part = {k: v[start : start + _COPY_ROWS] for k, v in cols.items()}
            vec = None if vectors is None else vectors[start : start + _COPY_ROWS]
            with cur.copy(sql) as copy:
                copy.write(copy_payload(part, vec))


def _insert_many(session: Session, cols: dict[str, np.ndarray], vectors: Any) -> None:
    """Rows in by one executemany of a Core insert (SQLite and other backends)."""
    n = len(cols["start"])
    names = [c for c in COPY_COLUMNS if c != "vector"]
    lists = [cols[c].tolist() for c in names]
    if vectors is None:
        vecs: list[bytes | None] = [None] * n
    elif isinstance(vectors, list):
        vecs = [None if v is None else np.asarray(v, "<f4").tobytes() for v in vectors]
    else:
        raw = vectors.tobytes()
        vecs = [raw[i * VECTOR_BYTES : (i + 1) * VECTOR_BYTES] for i in range(n)]
    rows = zip(*lists, vecs, strict=True)
    params = [dict(zip(names, row, strict=True), vector=v) for *row, v in rows]
    session.execute(insert(Sample), params)


def delete_file_samples(session: Session, file_ids: Sequence[int]) -> None:
    """Delete these files' samples: the one way samples go (they have no foreign keys)."""
    for start in range(0, len(file_ids), _DELETE_CHUNK):
        chunk = file_ids[start : start + _DELETE_CHUNK]
        session.execute(delete(Sample).where(Sample.file_id.in_(chunk)))


def replace_many(session: Session, *, job_id: int, batches: Sequence[SampleBatch]) -> int:
    """Delete the batches' files' samples and insert the new ones in the session's transaction."""
    delete_file_samples(session, [b.file_id for b in batches])
    batches = [b for b in batches if b.size]
    if not batches:
        return 0
    cols, vectors = _concat(job_id, batches)
    if session.get_bind().dialect.name == "postgresql":
        _copy_postgres(session, cols, vectors)
    else:
        _insert_many(session, cols, vectors)
    return len(cols["start"])


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
    batch = make_batch(file_id, columns, vectors)
    return replace_many(session, job_id=job_id, batches=[batch])


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
    blank = np.full(VECTOR_DIM, np.nan, dtype="<f4").tobytes()
    raws = [found[i] for i in ids]
    joined = b"".join(r if r is not None and len(r) == VECTOR_BYTES else blank for r in raws)
    return np.frombuffer(joined, dtype="<f4").reshape(len(ids), VECTOR_DIM).copy()

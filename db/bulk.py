"""Bulk sample writes: replace files' samples in one transaction (binary COPY on PostgreSQL).

Features go to `samples` (narrow rows, binary COPY); vectors go to `sample_vectors`, one row
per file holding its (n, 39) float32 array in idx order. `load_vectors` reads them back by
sample id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import bindparam, case, delete, func, insert, select
from sqlalchemy.orm import Session

from db.models import Sample, SampleVectors, SubsetCandidate
from db.subsets import SubsetParams, fill_candidates

VECTOR_DIM = 39
VECTOR_BYTES = VECTOR_DIM * 4
FEATURES = ("start", "dur", "power", "hz", "note", "octave", "midi", "clarity")
COPY_COLUMNS = ("job_id", "file_id", "idx", *FEATURES)
# Binary COPY field layout: (column, numpy big-endian type) for the fixed-width fields.
_FIXED = {
    "job_id": ">i8", "file_id": ">i8", "idx": ">i4", "start": ">f8", "dur": ">f8",
    "power": ">f8", "hz": ">f8", "octave": ">i2", "midi": ">f8", "clarity": ">f8",
}  # fmt: skip
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_PGCOPY_TRAILER = b"\xff\xff"
_DELETE_CHUNK = 5_000
_COPY_ROWS = 20_000  # rows per piece of the one COPY
_READ_CHUNK = 20_000
_FILE_READ_CHUNK = 500  # whole files' vectors per query (a long film's are ~1.5 MB)
_VECTOR_COPY_TYPES = ["int8", "int8", "int4", "bytea"]


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
        idx = cols["idx"].astype(np.int64, copy=False)
        if not np.array_equal(idx, np.arange(n)):  # stored in idx order: row i is idx i
            if not np.array_equal(np.sort(idx), np.arange(n)):
                raise ValueError("replace_samples: with vectors, idx must be 0..n-1 in some order")
            ordered = np.empty_like(vec)
            ordered[idx] = vec
            vec = ordered
    return SampleBatch(file_id, cols, vec)


def _concat(job_id: int, batches: Sequence[SampleBatch]) -> dict[str, np.ndarray]:
    """All batches' features as one set of columns, with job_id and file_id filled in."""
    cols = {k: np.concatenate([b.columns[k] for b in batches]) for k in (*FEATURES, "idx")}
    n = len(cols["start"])
    cols["job_id"] = np.full(n, job_id, dtype=np.int64)
    sizes = np.fromiter((b.size for b in batches), dtype=np.int64, count=len(batches))
    ids = np.fromiter((b.file_id for b in batches), dtype=np.int64, count=len(batches))
    cols["file_id"] = np.repeat(ids, sizes)
    return cols


def _factorize_notes(notes: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """(distinct notes as UTF-8, each row's index into them), sorting integers, not strings.

    Notes are short ASCII (`C#4`, `-`): as 8-byte strings they view as one uint64 each, which
    np.unique factorizes several times faster than unicode strings; other notes take the
    string path.
    """
    arr = np.asarray(notes)
    if arr.dtype.kind != "U":
        arr = arr.astype(str)
    if arr.dtype.itemsize <= 32:  # at most 8 characters
        try:
            keys, inverse = np.unique(arr.astype("S8").view("<u8"), return_inverse=True)
        except UnicodeEncodeError:
            pass
        else:
            return [bytes(v) for v in keys.view("S8").tolist()], inverse.reshape(-1)
    values, inverse = np.unique(arr, return_inverse=True)
    return [v.encode("utf-8") for v in values.tolist()], inverse.reshape(-1)


def copy_payload(
    cols: Mapping[str, np.ndarray],
    vectors: np.ndarray | None = None,
    columns: Sequence[str] = COPY_COLUMNS,
) -> bytes:
    """PostgreSQL binary COPY data for the rows (header, rows, trailer), built with numpy.

    `columns` are COPY_COLUMNS, or those plus a trailing "vector" (filled from `vectors`, or
    NULL): the layout before migration 0007, which bench/catalog.py still writes to compare.
    """
    return _PGCOPY_HEADER + copy_rows(cols, vectors, columns) + _PGCOPY_TRAILER


def copy_rows(
    cols: Mapping[str, np.ndarray],
    vectors: np.ndarray | None = None,
    columns: Sequence[str] = COPY_COLUMNS,
) -> bytes:
    """The rows of a binary COPY (no header or trailer), built with numpy (no per-row Python)."""
    n = len(cols["start"])
    # Notes take a handful of values: encode those once. Rows are laid out at the widest note
    # and the padding bytes of shorter ones are masked out of the flat buffer afterwards, so
    # rows of different widths need no per-row Python (that path cost ~10 us a row).
    encoded, inverse = _factorize_notes(cols["note"])
    widest = max((len(e) for e in encoded), default=0)
    lengths = np.array([len(e) for e in encoded], dtype=np.int32)[inverse]
    has_vec = vectors is not None
    fields: list[tuple[str, Any]] = [("count", ">i2")]
    for name in columns:
        fields.append((f"len_{name}", ">i4"))
        if name == "note":
            if widest:
                fields.append(("note", f"S{widest}"))
        elif name == "vector":
            if has_vec:
                fields.append(("vector", f"V{VECTOR_BYTES}"))
        else:
            fields.append((name, _FIXED[name]))
    rec = np.empty(n, dtype=fields)
    rec["count"] = len(columns)
    for name in columns:
        if name == "note":
            rec["len_note"] = lengths
            if widest:
                rec["note"] = np.array(encoded, dtype=f"S{widest}")[inverse]
        elif name == "vector":
            rec["len_vector"] = VECTOR_BYTES if has_vec else -1
            if has_vec:
                rec["vector"] = np.ascontiguousarray(vectors, "<f4").view(
                    f"V{VECTOR_BYTES}").reshape(-1)
        else:
            rec[f"len_{name}"] = np.dtype(_FIXED[name]).itemsize
            rec[name] = cols[name]
    if not widest or (lengths == widest).all():
        body = rec.tobytes()
    else:
        raw = rec.view(np.uint8).reshape(n, rec.dtype.itemsize)
        keep = np.ones(raw.shape, dtype=bool)
        at = rec.dtype.fields["note"][1]  # type: ignore[index]
        keep[:, at : at + widest] = np.arange(widest)[None, :] < lengths[:, None]
        body = raw[keep].tobytes()
    return body


def _copy_postgres(session: Session, cols: dict[str, np.ndarray]) -> None:
    """Rows in by one binary COPY on the session's own connection (same transaction).

    The rows go in pieces through a writer thread, so numpy builds the next piece while the
    server parses the last one (two processes at work instead of one after the other).
    """
    dbapi = session.connection().connection.driver_connection
    sql = f"COPY samples ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    n = len(cols["start"])
    with dbapi.cursor() as cur, cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(_PGCOPY_HEADER)
        for start in range(0, n, _COPY_ROWS):
            copy.write(copy_rows({k: v[start : start + _COPY_ROWS] for k, v in cols.items()}))
        copy.write(_PGCOPY_TRAILER)


def _insert_many(session: Session, cols: dict[str, np.ndarray]) -> None:
    """Rows in by one executemany of a Core insert (SQLite and other backends)."""
    lists = [cols[c].tolist() for c in COPY_COLUMNS]
    params = [dict(zip(COPY_COLUMNS, row, strict=True)) for row in zip(*lists, strict=True)]
    session.execute(insert(Sample), params)


def _write_vectors(session: Session, job_id: int, batches: Sequence[SampleBatch]) -> None:
    """One `sample_vectors` row per batch that has vectors (COPY on PostgreSQL)."""
    rows = [(b.file_id, job_id, b.size, b.vectors.tobytes())  # type: ignore[union-attr]
            for b in batches if b.vectors is not None]  # fmt: skip
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        dbapi = session.connection().connection.driver_connection
        sql = "COPY sample_vectors (file_id, job_id, count, data) FROM STDIN (FORMAT BINARY)"
        with dbapi.cursor() as cur, cur.copy(sql) as copy:
            copy.set_types(_VECTOR_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        return
    names = ("file_id", "job_id", "count", "data")
    session.execute(insert(SampleVectors), [dict(zip(names, r, strict=True)) for r in rows])


def delete_file_samples(session: Session, file_ids: Sequence[int]) -> None:
    """Delete these files' samples, vectors and stored subset candidates: the one way samples
    go (no foreign keys)."""
    for start in range(0, len(file_ids), _DELETE_CHUNK):
        chunk = list(file_ids[start : start + _DELETE_CHUNK])
        session.execute(delete(SampleVectors).where(SampleVectors.file_id.in_(chunk)))
        session.execute(delete(SubsetCandidate).where(SubsetCandidate.file_id.in_(chunk)))
        session.execute(delete(Sample).where(Sample.file_id.in_(chunk)))


def replace_many(
    session: Session,
    *,
    job_id: int,
    batches: Sequence[SampleBatch],
    subset_specs: Sequence[SubsetParams] = (),
) -> int:
    """Delete the batches' files' samples and insert the new ones in the session's transaction.

    With `subset_specs` (the job's [[subset]] entries), each storable spec's per-file stage is
    then computed for these files and stored (`db.subsets.fill_candidates`: every file passing
    the spec's filter, read in this transaction, so write the files' statistics first).
    """
    file_ids = [b.file_id for b in batches]
    delete_file_samples(session, file_ids)
    batches = [b for b in batches if b.size]
    n = 0
    if batches:
        cols = _concat(job_id, batches)
        if session.get_bind().dialect.name == "postgresql":
            _copy_postgres(session, cols)
        else:
            _insert_many(session, cols)
        _write_vectors(session, job_id, batches)
        n = len(cols["start"])
    if subset_specs:
        fill_candidates(session, file_ids, subset_specs)
    return n


def replace_samples(
    session: Session,
    *,
    job_id: int,
    file_id: int,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    vectors: np.ndarray | None,
    subset_specs: Sequence[SubsetParams] = (),
) -> int:
    """Delete the file's samples and insert the new ones in the session's transaction; the count.

    `columns` holds idx (optional: 0..n-1), start, dur, power, hz, note, octave, midi, clarity;
    `vectors` is (n, 39) float32 or None; `subset_specs` as for `replace_many`. Idempotent:
    re-running leaves the same rows.
    """
    batch = make_batch(file_id, columns, vectors)
    return replace_many(session, job_id=job_id, batches=[batch], subset_specs=subset_specs)


def load_vectors(session: Session, sample_ids: Sequence[int]) -> np.ndarray:
    """The samples' vectors as an (n, 39) float32 array in the given order (NaN rows if none).

    Each sample's row is the slice at its idx of its file's `sample_vectors` data. PostgreSQL
    slices them out in one query per 20,000 ids (the sample, its file's row, the one TOAST
    chunk holding the slice: the data is stored uncompressed out of line, so `substring`
    reads only that chunk). SQLite reads each file's row whole, once.
    """
    ids = [int(i) for i in sample_ids]
    if session.get_bind().dialect.name == "postgresql":
        found = _slices(session, ids)
    else:
        found = _whole_files(session, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise KeyError(f"no sample with id {missing[0]} ({len(missing)} missing)")
    out = np.full((len(ids), VECTOR_DIM), np.nan, dtype="<f4")
    for row, sid in enumerate(ids):
        raw = found[sid]
        if raw is not None and len(raw) == VECTOR_BYTES:
            out[row] = np.frombuffer(raw, dtype="<f4")
    return out


def _whole_files(session: Session, sample_ids: Sequence[int]) -> dict[int, bytes | None]:
    """{sample id: its 156 bytes or None}: the samples' places, then each file's row once."""
    where: dict[int, tuple[int, int]] = {}
    stmt = select(Sample.id, Sample.file_id, Sample.idx).where(
        Sample.id.in_(bindparam("ids", expanding=True)))
    for start in range(0, len(sample_ids), _READ_CHUNK):
        chunk = list(sample_ids[start : start + _READ_CHUNK])
        where.update((sid, (fid, idx)) for sid, fid, idx in session.execute(stmt, {"ids": chunk}))
    file_ids = sorted({fid for fid, _ in where.values()})
    vstmt = select(SampleVectors.file_id, SampleVectors.data).where(
        SampleVectors.file_id.in_(bindparam("fids", expanding=True)))
    data: dict[int, bytes] = {}
    for start in range(0, len(file_ids), _FILE_READ_CHUNK):
        chunk = file_ids[start : start + _FILE_READ_CHUNK]
        data.update((f, d) for f, d in session.execute(vstmt, {"fids": chunk}))
    found: dict[int, bytes | None] = {}
    for sid, (fid, idx) in where.items():
        raw = data.get(fid)
        found[sid] = (bytes(raw[idx * VECTOR_BYTES : (idx + 1) * VECTOR_BYTES])
                      if raw is not None and idx >= 0 else None)  # fmt: skip
    return found


def _slices(session: Session, sample_ids: Sequence[int]) -> dict[int, bytes | None]:
    """PostgreSQL: {sample id: its 156 bytes or None}, sliced out of the files' rows in SQL.

    One query per chunk: before, the samples' places, their files' counts and the slices were
    three, and the slices joined samples again (5 index lookups a member where 3 do).
    """
    inside = (Sample.idx >= 0) & (Sample.idx < SampleVectors.count)
    piece = case((inside, func.substring(SampleVectors.data, Sample.idx * VECTOR_BYTES + 1,
                                         VECTOR_BYTES)), else_=None)  # fmt: skip
    stmt = (
        select(Sample.id, piece)
        .outerjoin(SampleVectors, SampleVectors.file_id == Sample.file_id)
        .where(Sample.id.in_(bindparam("ids", expanding=True)))
    )
    found: dict[int, bytes | None] = {}
    for start in range(0, len(sample_ids), _READ_CHUNK):
        chunk = sorted(set(sample_ids[start : start + _READ_CHUNK]))
        found.update((sid, None if raw is None else bytes(raw))
                     for sid, raw in session.execute(stmt, {"ids": chunk}))  # fmt: skip
    return found

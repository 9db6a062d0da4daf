"""Bulk sample replacement (COPY on PostgreSQL, executemany on SQLite) and vector reads
(one sample_vectors row per file, sliced back by sample id)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from db.bulk import load_vectors, replace_samples
from db.engine import session_scope
from db.models import File, Job, Sample, SampleVectors
from tests.catalog_factory import sample_columns

COLUMNS = ("idx", "start", "dur", "power", "hz", "note", "octave", "midi", "clarity")


def _file(catalog: Engine) -> tuple[int, int]:
    with session_scope(catalog) as s:
        job = Job(name="bulk", spec={})
        s.add(job)
        s.flush()
        f = File(job_id=job.id, key="k", name="a.mp4")
        s.add(f)
        s.flush()
        return job.id, f.id


def _rows(catalog: Engine, file_id: int) -> list[tuple]:
    """The file's samples by idx: the feature columns, then the vector's bytes or None."""
    with session_scope(catalog) as s:
        cols = [getattr(Sample, c) for c in COLUMNS]
        stmt = select(*cols, Sample.id).where(Sample.file_id == file_id).order_by(Sample.idx)
        rows = [tuple(r) for r in s.execute(stmt)]
        vecs = load_vectors(s, [r[-1] for r in rows])
    return [(*r[:-1], None if np.isnan(v).all() else v.tobytes())
            for r, v in zip(rows, vecs, strict=True)]


def test_replace_is_idempotent_and_exact(catalog: Engine) -> None:
    job_id, file_id = _file(catalog)
    rng = np.random.default_rng(1)
    cols = sample_columns(rng, 250)
    cols["note"][3] = "C♯"  # non-ASCII text survives COPY
    vecs = rng.standard_normal((250, 39)).astype(np.float32)
    for _ in range(2):
        with session_scope(catalog) as s:
            assert replace_samples(s, job_id=job_id, file_id=file_id, columns=cols,
                                   vectors=vecs) == 250  # fmt: skip
    rows = _rows(catalog, file_id)
    assert len(rows) == 250
    for i, row in enumerate(rows):
        expected = tuple(cols[c][i].item() for c in COLUMNS)
        assert row[:-1] == expected
        assert row[-1] == vecs[i].astype("<f4").tobytes()
    with session_scope(catalog) as s:
        ids = list(s.scalars(select(Sample.id).where(Sample.file_id == file_id)))
        order = list(reversed(ids))
        got = load_vectors(s, order)
        few = load_vectors(s, order[:3])  # 3 of 250: sliced out in SQL on PostgreSQL
    idx_of = {sid: i for i, sid in enumerate(sorted(ids))}
    np.testing.assert_array_equal(got, vecs[[idx_of[sid] for sid in order]])
    np.testing.assert_array_equal(few, vecs[[idx_of[sid] for sid in order[:3]]])


def test_replace_shrinks_empties_and_rolls_back(catalog: Engine) -> None:
    job_id, file_id = _file(catalog)
    rng = np.random.default_rng(2)
    with session_scope(catalog) as s:
        replace_samples(s, job_id=job_id, file_id=file_id,
                        columns=sample_columns(rng, 40), vectors=None)  # fmt: skip
    smaller = {k: list(v) for k, v in sample_columns(rng, 7).items()}  # lists work too
    with session_scope(catalog) as s:
        replace_samples(s, job_id=job_id, file_id=file_id, columns=smaller, vectors=None)
    rows = _rows(catalog, file_id)
    assert [r[0] for r in rows] == list(range(7)) and all(r[-1] is None for r in rows)
    with pytest.raises(ValueError, match="vectors shape"), session_scope(catalog) as s:
        replace_samples(s, job_id=job_id, file_id=file_id,
                        columns=sample_columns(rng, 5), vectors=np.zeros((4, 39)))  # fmt: skip
    assert len(_rows(catalog, file_id)) == 7  # the failed replacement changed nothing
    with session_scope(catalog) as s:
        replace_samples(s, job_id=job_id, file_id=file_id,
                        columns=sample_columns(rng, 0), vectors=None)  # fmt: skip
        assert s.scalar(select(func.count()).select_from(Sample)) == 0
        assert s.scalar(select(func.count()).select_from(SampleVectors)) == 0
        with pytest.raises(KeyError):
            load_vectors(s, [123456])


def test_vectors_follow_idx_and_leave_with_their_file(catalog: Engine) -> None:
    """Vectors are stored per file in idx order (whatever order the rows came in); files with
    and without vectors mix; replacing without vectors removes the old ones; deleting the file
    row takes its vectors along."""
    job_id, file_id = _file(catalog)
    rng = np.random.default_rng(3)
    cols = sample_columns(rng, 30)
    perm = rng.permutation(30)
    shuffled = {k: np.asarray(v)[perm] for k, v in cols.items()}
    shuffled["idx"] = perm
    vecs = rng.standard_normal((30, 39)).astype(np.float32)
    with session_scope(catalog) as s:
        other = File(job_id=job_id, key="k2", name="b.mp4")
        s.add(other)
        s.flush()
        other_id = other.id
        replace_samples(s, job_id=job_id, file_id=file_id, columns=shuffled, vectors=vecs[perm])
        replace_samples(s, job_id=job_id, file_id=other_id, columns=sample_columns(rng, 4),
                        vectors=None)  # fmt: skip
        assert s.scalar(select(SampleVectors.count).where(SampleVectors.file_id == file_id)) == 30
    rows = _rows(catalog, file_id)
    assert [r[-1] for r in rows] == [v.tobytes() for v in vecs]  # row i is idx i's vector
    assert all(r[-1] is None for r in _rows(catalog, other_id))
    bad = dict(cols, idx=np.arange(30) + 1)
    with pytest.raises(ValueError, match=r"idx must be 0\.\.n-1"), session_scope(catalog) as s:
        replace_samples(s, job_id=job_id, file_id=file_id, columns=bad, vectors=vecs)
    with session_scope(catalog) as s:
        s.delete(s.get(File, file_id))
    with session_scope(catalog) as s:
        assert s.scalar(select(func.count()).select_from(SampleVectors)) == 0


def test_copy_in_pieces_keeps_rows_and_order(catalog: Engine,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One COPY sent in many pieces (7 rows each here) writes every row once, in idx order,
    with notes of every width (the payload masks each piece's padding on its own)."""
    import db.bulk

    monkeypatch.setattr(db.bulk, "_COPY_ROWS", 7)
    job_id, file_id = _file(catalog)
    rng = np.random.default_rng(5)
    cols = sample_columns(rng, 60)
    cols["note"][:6] = ["C#4", "-", "A-1", "C♯", "G#10", "B"]
    with session_scope(catalog) as s:
        assert replace_samples(s, job_id=job_id, file_id=file_id, columns=cols, vectors=None) == 60
    rows = _rows(catalog, file_id)
    assert [r[COLUMNS.index("note")] for r in rows] == [str(n) for n in cols["note"]]
    assert [r[:-1] for r in rows] == [tuple(cols[c][i].item() for c in COLUMNS) for i in range(60)]
    with session_scope(catalog) as s:
        ids = list(s.scalars(select(Sample.id).where(Sample.file_id == file_id)
                             .order_by(Sample.idx)))  # fmt: skip
    assert ids == sorted(ids)  # ids follow idx: the pieces went in order

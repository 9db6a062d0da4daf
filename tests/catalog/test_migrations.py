"""The Alembic chain: it builds exactly the models' schema on both backends and unwinds cleanly."""

from __future__ import annotations

from functools import partial

import numpy as np
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from db.bulk import load_vectors
from db.engine import session_scope
from db.migrate import alembic_config, current_revision, head_revision, include_object
from db.models import Base


def test_chain_matches_models_and_downgrades(catalog: Engine) -> None:
    assert current_revision(catalog) == head_revision()
    with catalog.connect() as conn:
        dialect = catalog.dialect.name
        context = MigrationContext.configure(conn, opts={"include_object": partial(
            include_object, dialect=dialect)})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    indexes = {i["name"] for i in inspect(catalog).get_indexes("samples")}
    assert "ix_samples_subset_scan" not in indexes  # dropped by 0007 (narrow rows need none)
    assert "vector" not in {c["name"] for c in inspect(catalog).get_columns("samples")}
    command.downgrade(alembic_config(catalog), "base")
    assert set(inspect(catalog).get_table_names()) <= {"alembic_version"}
    command.upgrade(alembic_config(catalog), "head")
    assert "samples" in inspect(catalog).get_table_names()


def test_0007_moves_vectors_out_and_back(catalog: Engine) -> None:
    """Vectors stored in sample rows at 0006 come back identical through 0007's per-file rows,
    irregular idx included (a gap reads as NaN), and return to the rows on downgrade."""
    cfg = alembic_config(catalog)
    command.downgrade(cfg, "0006")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((6, 39)).astype("<f4")
    with catalog.begin() as conn:
        job = conn.execute(text("INSERT INTO jobs (name, spec, spec_toml, status, created_at, "
                                "updated_at) VALUES ('m', '{}', '', 'active', '2026-01-01', "
                                "'2026-01-01') RETURNING id")).scalar_one()  # fmt: skip
        files = [conn.execute(text(
            "INSERT INTO files (job_id, key, name, created_at, updated_at) VALUES "
            "(:j, :k, :k, '2026-01-01', '2026-01-01') RETURNING id"), {"j": job, "k": k}
        ).scalar_one() for k in ("a", "b", "c")]  # fmt: skip
        # file a: idx 0..2 regular; file b: idx 0 and 2 (a gap); file c: no vectors
        layout = [(files[0], 0, 0), (files[0], 1, 1), (files[0], 2, 2), (files[1], 0, 3),
                  (files[1], 2, 4), (files[2], 0, None)]  # fmt: skip
        ids = []
        for fid, idx, v in layout:
            ids.append(conn.execute(text(
                "INSERT INTO samples (job_id, file_id, idx, start, dur, power, hz, note, octave, "
                "midi, clarity, vector) VALUES (:j, :f, :i, 0, 1, 0.5, 440, 'A', 4, 69, 0.5, :v) "
                "RETURNING id"), {"j": job, "f": fid, "i": idx,
                                  "v": None if v is None else vecs[v].tobytes()}).scalar_one())
    command.upgrade(cfg, "head")
    with session_scope(catalog) as s:
        got = load_vectors(s, ids)
    np.testing.assert_array_equal(got[:5], vecs[:5])
    assert np.isnan(got[5]).all()
    with catalog.connect() as conn:
        counts = dict(conn.execute(text("SELECT file_id, count FROM sample_vectors")).all())
    assert counts == {files[0]: 3, files[1]: 3}  # b: idx 0..2 with idx 1 a NaN row
    command.downgrade(cfg, "0006")
    with catalog.connect() as conn:
        back = dict(conn.execute(text("SELECT id, vector FROM samples")).all())
    for i, sid in enumerate(ids[:5]):
        assert bytes(back[sid]) == vecs[i].tobytes()
    assert back[ids[5]] is None
    command.upgrade(cfg, "head")


def test_0008_drops_the_job_index_on_postgresql_only(catalog: Engine) -> None:
    """0008 leaves samples with the primary key and file_id on PostgreSQL; SQLite keeps
    (job_id, file_id); downgrading to 0007 brings it back."""
    def names() -> set[str]:
        return {i["name"] for i in inspect(catalog).get_indexes("samples")}

    postgres = catalog.dialect.name == "postgresql"
    assert ("ix_samples_job_id_file_id" in names()) is not postgres
    cfg = alembic_config(catalog)
    command.downgrade(cfg, "0007")
    assert "ix_samples_job_id_file_id" in names()
    command.upgrade(cfg, "head")
    assert ("ix_samples_job_id_file_id" in names()) is not postgres

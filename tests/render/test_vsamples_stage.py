"""The vsamples stage on a real catalog (both backends) and real films: one target per film
holding grid members of a grid render's subset (keys from the catalog), spans stored on the
members as the pure code computes them, the same values when run again, and a film that cannot
be decoded failed against its file while its members show their sound's span."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core.stages import get_stage
from db import state
from db import targets as tq
from db.bulk import replace_samples
from db.engine import session_scope
from db.models import File, Job, Sample, Subset, SubsetMember, Target, TargetStatus
from tests.catalog_factory import sample_columns
from tests.pipeline_harness import catalog, configure
from tests.render.gridgen import shots_film
from worker.render.gridkind.handler import read_grid
from worker.tasks.runner import run_target
from worker.tasks.vsamples import handle
from worker.vsamples.film import vsample_film
from worker.vsamples.spans import SpanParams

SPEC = {"render": [{"kind": "proliferation", "subset": "main"}], "vsamples": {"seed": 3}}


def _catalog(engine, films: list[Path]) -> tuple[int, dict[int, list[tuple[float, float]]]]:
    """A job whose subset 'main' has 6 members per film, 5 of them on the grid."""
    rng = np.random.default_rng(0)
    spans: dict[int, list[tuple[float, float]]] = {}
    with session_scope(engine) as s:
        job = Job(name="vs", spec=SPEC)
        s.add(job)
        s.flush()
        subset = Subset(job_id=job.id, name="main", members_count=6 * len(films))
        s.add(subset)
        s.flush()
        position = 0
        for i, path in enumerate(films):
            f = File(job_id=job.id, key=f"film-{i}", name=path.name, path=str(path))
            s.add(f)
            s.flush()
            cols = sample_columns(rng, 6)
            cols["start"] = np.array([200.0, 1500.0, 2600.0, 4100.0, 6000.0, 7000.0])
            cols["dur"] = np.array([150.0, 400.0, 900.0, 1300.0, 250.0, 300.0])
            replace_samples(s, job_id=job.id, file_id=f.id, columns=cols, vectors=None)
            ids = list(s.scalars(select(Sample.id).where(Sample.file_id == f.id)
                                 .order_by(Sample.idx)))
            for k, sample_id in enumerate(ids):
                on_grid = k < 5
                s.add(SubsetMember(subset_id=subset.id, position=position, sample_id=sample_id,
                                   col=position % 8 if on_grid else None,
                                   row=position // 8 if on_grid else None))
                position += 1
            spans[f.id] = list(zip(cols["start"][:5], cols["dur"][:5], strict=True))
        return job.id, spans


def _members(engine, job_id: int) -> dict[int, list[tuple]]:
    with session_scope(engine) as s:
        rows = s.execute(select(Sample.file_id, SubsetMember.vstart, SubsetMember.vdur,
                                SubsetMember.col)
                         .join(Sample, Sample.id == SubsetMember.sample_id)
                         .order_by(SubsetMember.position)).all()
    out: dict[int, list[tuple]] = {}
    for file_id, vs, vd, col in rows:
        out.setdefault(file_id, []).append((vs, vd, col))
    return out


def test_spans_per_film_stored_idempotent_and_a_bad_film(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str) -> None:
    settings = configure(monkeypatch, tmp_path, catalog_url=catalog_url)
    engine = catalog(settings)
    plan = [("start", 2.0), ("cut", 2.5), ("fade", 2.0), ("cut", 2.0)]
    good = [shots_film(tmp_path / f"film{i}.mp4", plan)[0] for i in range(2)]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    job_id, spans = _catalog(engine, [*good, bad])
    stage = get_stage("vsamples")
    with session_scope(engine) as s:
        assert tq.ensure_job_targets(s, job_id, stage, stage.target_keys(SPEC)) == 3
        assert tq.ensure_job_targets(s, job_id, stage, []) == 0  # asked again: nothing new
        targets = dict(s.execute(select(Target.file_id, Target.id).where(
            Target.job_id == job_id, Target.stage == "vsamples")).all())
    assert set(targets) == set(spans)
    results = {f: run_target(t, handle) for f, t in targets.items()}
    bad_id = max(targets)  # written last
    good_ids = sorted(f for f in targets if f != bad_id)
    assert results[bad_id] == TargetStatus.FAILED
    assert all(results[f] == TargetStatus.DONE for f in good_ids)
    with session_scope(engine) as s:
        failed = s.get(Target, targets[bad_id])
        assert failed.file_id == bad_id and "broken.mp4" in (failed.error or "")
    stored = _members(engine, job_id)
    for f, path in zip(good_ids, good, strict=True):
        starts = np.array([a for a, _ in spans[f]])
        durs = np.array([d for _, d in spans[f]])
        vs, vd, _ = vsample_film(path, starts, durs, f"film-{good_ids.index(f)}",
                                 SpanParams(seed=3))
        assert [(r[0], r[1]) for r in stored[f][:5]] == list(zip(vs.astype(float),
                                                                 vd.astype(float),
                                                                 strict=True))
        assert stored[f][5][:2] == (None, None)  # not on the grid: no span
        assert any(d != dur for (_, d, _), (_, dur) in zip(stored[f], spans[f], strict=False))
    assert all(r[0] is None for r in stored[bad_id])
    # the grid reads the stored spans; the bad film's members show their sound's span
    grid = read_grid(engine, job_id, "main")
    assert grid.fallback == 5
    m = grid.members
    bad_source = m.sources.index(str(bad))
    sel = m.source == bad_source
    np.testing.assert_array_equal(m.vstart_ms[sel], m.start_ms[sel])
    np.testing.assert_array_equal(m.vdur_ms[sel], m.dur_ms[sel])
    # run again: the same values
    with session_scope(engine) as s:
        state.restart_targets(s, [targets[f] for f in good_ids])
    assert all(run_target(targets[f], handle) == TargetStatus.DONE for f in good_ids)
    assert _members(engine, job_id) == stored

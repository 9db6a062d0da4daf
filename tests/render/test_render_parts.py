"""A grid video's part stages take their keys from the plan its render target recorded (real
catalog, both backends); parts run with their render's parameters; jobs without a grid
video have no part stages, so non-grid kinds still render in their one target."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.stages import get_stage, job_stages, part_key, split_part_key
from db import targets as tq
from db.engine import session_scope
from db.models import File, Job, Target, TargetStatus
from db.render_plans import record_plan, render_progress

GRID = {"render": [{"kind": "proliferation", "name": "a/b", "subset": "main", "grid": 4,
                    "grid0": 2},
                   {"kind": "sorted_audio", "subset": "main"}]}
PART_STAGES = ["render_cache", "render_chunk", "render_join"]


def test_only_a_grid_render_brings_vsamples_and_the_part_stages() -> None:
    audio_only = {"render": [{"kind": "sorted_audio", "subset": "main"}]}
    names = [s.name for s in job_stages(audio_only)]
    assert "render" in names and not {"vsamples", *PART_STAGES} & set(names)
    names = [s.name for s in job_stages(GRID)]
    assert names[names.index("vsamples"):] == ["vsamples", "render", *PART_STAGES]


def test_a_part_runs_with_its_renders_parameters() -> None:
    key = part_key("a/b", "chunk-00002")  # a render's name may hold the separator
    assert split_part_key(key) == ("a/b", "chunk-00002")
    params = get_stage("render_chunk").params_for(GRID, key)
    assert params.kind == "proliferation" and params.grid == 4 and params.resolved_name == "a/b"
    assert get_stage("render_chunk").queue_for(params) == "render"
    assert get_stage("render_cache").queue == "cpu"
    with pytest.raises(Exception, match="no entry"):
        get_stage("render_join").params_for(GRID, part_key("nope", "join"))


def _keys(engine: Engine, job_id: int, stage: str) -> dict[str, int | None]:
    with session_scope(engine) as s:
        return dict(s.execute(select(Target.key, Target.file_id).where(
            Target.job_id == job_id, Target.stage == stage)).all())


def test_part_targets_come_from_the_recorded_plan(catalog: Engine, tmp_path: Path) -> None:
    with session_scope(catalog) as s:
        job = Job(name="parts", spec=GRID)
        s.add(job)
        s.flush()
        files = [File(job_id=job.id, key=f"f{i}", name=f"f{i}.mp4") for i in range(2)]
        s.add_all(files)
        s.flush()
        job_id, file_ids = job.id, [f.id for f in files]
    stages = {name: get_stage(name) for name in PART_STAGES}
    with session_scope(catalog) as s:  # not planned yet: no parts
        assert all(tq.ensure_job_targets(s, job_id, st, st.target_keys(GRID)) == 0
                   for st in stages.values())
        assert render_progress(s, job_id) == []
        record_plan(s, job_id=job_id, subset_id=None, name="a/b", folder=tmp_path / "plan",
                    chunks=3, sources=[(0, file_ids[0]), (2, file_ids[1])],
                    info={"kind": "proliferation"})
    with session_scope(catalog) as s:
        created = {n: tq.ensure_job_targets(s, job_id, st, []) for n, st in stages.items()}
        again = {n: tq.ensure_job_targets(s, job_id, st, []) for n, st in stages.items()}
    assert created == {"render_cache": 2, "render_chunk": 4, "render_join": 1}
    assert set(again.values()) == {0}
    assert _keys(catalog, job_id, "render_cache") == {"a/b/cache-0": file_ids[0],
                                                      "a/b/cache-2": file_ids[1]}
    assert set(_keys(catalog, job_id, "render_chunk")) == {
        "a/b/chunk-00000", "a/b/chunk-00001", "a/b/chunk-00002", "a/b/mix"}
    assert _keys(catalog, job_id, "render_join") == {"a/b/join": None}
    with session_scope(catalog) as s:
        s.execute(Target.__table__.update().where(
            Target.job_id == job_id, Target.key.in_(["a/b/chunk-00001", "a/b/cache-2"]))
            .values(status=TargetStatus.DONE))
    with session_scope(catalog) as s:
        (progress,) = render_progress(s, job_id)
    assert progress.line() == "render a/b: chunks 1/3, cache 1/2, mix to do"

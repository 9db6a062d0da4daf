"""Layout end to end on the embedded default: generated films -> samples (with the job's subset
candidates, stored by the analyze task) -> subset -> t-SNE -> grid -> sorted audio files that
decode and last as long as their clips say."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from rich.console import Console
from sqlalchemy import func, select

from db.engine import session_scope
from db.layouts import subset_clips
from db.models import Artifact, File, Subset, SubsetCandidate, SubsetMember
from db.subsets import (
    SubsetParams,
    candidate_key,
    candidates_cover,
    select_subset,
    subset_sample_ids,
)
from scheduler.demo import demo_film, write_mp4
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure
from worker.render.members import order_members
from worker.render.sorted_audio.params import SortedAudioParams
from worker.render.sorted_audio.renderer import Clip, expected_duration_ms

JOB = """
name = "layout"
[source]
kind = "local"
folder = "{folder}"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "main"
ffilter = "dur>=100"
fsort = "power=desc"
flim = 30
lim = 100
[[layout]]
subset = "main"
perplexity = 10
grid = "8x8"
[[render]]
kind = "sorted_audio"
name = "by-sound"
subset = "main"
sort = "tsne=asc"
format = "wav"
[[render]]
kind = "sorted_audio"
name = "by-pitch"
subset = "main"
sort = "hz=asc"
format = "mp3"
"""


def test_films_to_grid_and_sorted_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = tmp_path / "films"
    for i, style in enumerate(("melody", "talk", "percussion", "mix")):
        write_mp4(folder / f"{style}.mp4", demo_film(10.0, style, seed=i))
    job = tmp_path / "layout.toml"
    job.write_text(JOB.format(folder=folder))
    outcome = run_job(job, settings, console=Console(file=io.StringIO()))
    assert outcome.exit_code == 0, outcome.failures
    engine = catalog(settings)
    with session_scope(engine) as session:
        subset = session.scalar(select(Subset).where(Subset.job_id == outcome.job_id))
        assert subset is not None
        # the analyze task stored each file's per-file stage of the job's subset (one marker a
        # file, at most flim candidates), and the subset stage's members from them are those of
        # the query on samples
        spec = SubsetParams(name="main", ffilter="dur>=100", fsort="power=desc", flim=30,
                            lim=100)
        key = candidate_key(spec)
        assert key is not None
        nfiles = session.scalar(select(func.count()).select_from(File).where(
            File.job_id == outcome.job_id))
        markers = session.scalar(select(func.count()).select_from(SubsetCandidate).where(
            SubsetCandidate.spec_key == key, SubsetCandidate.sample_id == 0))
        assert nfiles == markers == 4
        per_file = session.execute(select(func.count()).where(
            SubsetCandidate.spec_key == key, SubsetCandidate.sample_id != 0)
            .group_by(SubsetCandidate.file_id)).scalars().all()
        assert len(per_file) == 4 and all(0 < c <= 30 for c in per_file), per_file
        assert candidates_cover(session, outcome.job_id, spec)
        assert subset_sample_ids(session, subset.id) == select_subset(
            session, outcome.job_id, spec, candidates=False)
        members = session.scalars(select(SubsetMember).where(
            SubsetMember.subset_id == subset.id).order_by(SubsetMember.position)).all()
        n = len(members)
        assert 64 < n <= 100, "more members than cells, so the grid must cut"
        tsne = np.array([m.tsne for m in members])
        xy = np.array([(m.x, m.y) for m in members])
        assert tsne.min() == pytest.approx(0) and tsne.max() == pytest.approx(1)
        assert (xy >= 0).all() and (xy <= 1).all()
        cells = [(m.col, m.row) for m in members if m.col is not None]
        assert len(cells) == 64 == len(set(cells)), "one sample per cell, every cell filled"
        assert all(0 <= c < 8 and 0 <= r < 8 for c, r in cells)
        assert subset.layout and subset.layout["cut"] == n - 64
        assert subset.layout["trustworthiness_2d"] > 0.65, "no better than a random layout (~0.5)"
        artifacts = {a.name: a for a in session.scalars(select(Artifact))}
        clips = subset_clips(session, outcome.job_id, "main")
    assert set(artifacts) == {"by-sound", "by-pitch", "main"}
    picture = artifacts.pop("main")
    assert picture.kind == "layout_plot"
    assert Path(picture.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    job_spec = {r["name"]: r for r in __import__("tomllib").loads(job.read_text())["render"]}
    for name, artifact in artifacts.items():
        path = Path(artifact.path)
        assert path.is_file() and path.suffix == (".wav" if name == "by-sound" else ".mp3")
        params = SortedAudioParams(**job_spec[name])
        ordered = [clips[i] for i in order_members([c.values for c in clips], params.sort)]
        expected = expected_duration_ms(
            [Clip(Path(c.path), c.start, c.dur) for c in ordered], params) / 1000
        with av.open(str(path)) as container:
            decoded = sum(f.samples for f in container.decode(audio=0))
            rate = container.streams.audio[0].rate
        assert decoded / rate == pytest.approx(expected, abs=0.06)
        assert artifact.duration == pytest.approx(expected, abs=0.01)

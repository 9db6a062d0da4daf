"""proliferation end to end through real workers, on SQLite and PostgreSQL: generated films ->
samples -> subset -> grid -> vsamples per film -> the grid video planned, then its clip cache,
chunks, mix and join as targets of their own; its frames, length and flash/beep sync match its
plan, with a contact sheet beside it. The first render's two workers lose one of their
processes to a SIGKILL mid-chunk (that chunk alone is redone); rendered again by one worker, the
mp4 is the same bytes. (Two renders carry the three cases: two workers, one worker, a killed
worker; each pair of them must give the same bytes.)"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import func, select

from core.settings import Settings, get_settings, reset_settings
from db import state
from db.engine import session_scope
from db.models import Artifact, JobStatus, SubsetMember, Target, TargetStatus, TaskRun
from scheduler.commands.render import render
from scheduler.run import run_job
from tests.pipeline_harness import Cluster, catalog, configure, job_status, wait_for
from tests.render.gridgen import flash_beep_film
from tests.render.test_proliferation import assert_cells_light_on_their_beeps
from worker.render.grid import Composition

EVENTS = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]

JOB = """
name = "grid"
[source]
kind = "local"
folder = "{folder}"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "main"
[[layout]]
subset = "main"
perplexity = 5
grid = "4x4"
[[render]]
kind = "proliferation"
name = "rings"
subset = "main"
grid = 4
grid0 = 2
beat_ms = 1500
width = 256
height = 144
preset = "ultrafast"
reverb = 0
flash = 0.01
chunk_s = 1.0
pad_before_ms = 500
pad_after_ms = 500
"""


RENDER_STAGES = ["render", "render_cache", "render_chunk", "render_join"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chunk_workers(settings: Settings, job_id: int) -> set[str]:
    """The worker processes that completed the render's chunks."""
    with session_scope(catalog(settings)) as session:
        return set(session.scalars(select(TaskRun.worker).where(
            TaskRun.job_id == job_id, TaskRun.stage == "render_chunk",
            TaskRun.status == TargetStatus.DONE)))


def _running_chunk(settings: Settings) -> tuple[int, int] | None:
    """(target id, worker pid) of a chunk being rendered now (the test's catalog holds one
    job)."""
    with session_scope(catalog(settings)) as session:
        row = session.execute(select(Target.id, Target.worker).where(
            Target.stage == "render_chunk", Target.key.like("%/chunk-%"),
            Target.status == TargetStatus.RUNNING).limit(1)).first()
    return (row[0], int(row[1].rsplit(":", 1)[1])) if row and row[1] else None


class ChunkKiller:
    """A thread that SIGKILLs the worker process rendering the first chunk it sees running,
    while the job runs in the test's own thread; `killed` is that chunk's target id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.killed: int | None = None
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while self.killed is None and not self.done.is_set():
                found = _running_chunk(self.settings)
                if found:
                    self.killed = found[0]
                    os.kill(found[1], signal.SIGKILL)
                time.sleep(0.01)
        except BaseException as exc:  # surfaced by stop()
            self.errors.append(exc)

    def __enter__(self) -> ChunkKiller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)
        if self.errors:
            raise self.errors[0]


def render_again(settings: Settings, monkeypatch: pytest.MonkeyPatch, job_id: int, out: Path,
                 *, workers: int) -> None:
    """Drop the render's targets and outputs (the clip cache stays: it is keyed by what it
    holds) and render it again with `workers` worker processes."""
    with session_scope(catalog(settings)) as session:
        state.drop_targets(session, job_id, job_stages=RENDER_STAGES)
        state.reactivate(session, job_id)
    shutil.rmtree(settings.data_dir / "work" / f"job-{job_id}" / "rings")
    out.unlink()
    monkeypatch.setenv("SAMPLEMILL_CONCURRENCY", str(workers))
    reset_settings()
    cluster = Cluster(get_settings())
    try:
        cluster.start_scheduler(job_id)
        wait_for(lambda: job_status(catalog(settings), job_id) != JobStatus.ACTIVE, 300,
                 "the render to finish")
    finally:
        cluster.close()
    assert job_status(catalog(settings), job_id) == JobStatus.DONE


def part_runs(settings: Settings, job_id: int) -> tuple[dict[int, int], dict[int, int]]:
    """Per render part target: its runs, and its runs that completed."""
    with session_scope(catalog(settings)) as session:
        runs = dict(session.execute(select(TaskRun.target_id, func.count()).where(
            TaskRun.job_id == job_id, TaskRun.stage.in_(RENDER_STAGES[1:]))
            .group_by(TaskRun.target_id)).all())
        done = dict(session.execute(select(TaskRun.target_id, func.count()).where(
            TaskRun.job_id == job_id, TaskRun.stage.in_(RENDER_STAGES[1:]),
            TaskRun.status == TargetStatus.DONE).group_by(TaskRun.target_id)).all())
    return runs, done


@pytest.mark.slow
def test_films_to_a_proliferation_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        catalog_url: str) -> None:
    settings = configure(monkeypatch, tmp_path, catalog_url=catalog_url)
    folder = tmp_path / "films"
    folder.mkdir()
    for i in range(3):
        flash_beep_film(folder / f"film{i}.mp4", EVENTS, 8.4, flash_len=3)
    job = tmp_path / "grid.toml"
    job.write_text(JOB.format(folder=folder))
    shown = io.StringIO()
    # the render's two workers lose the process rendering the first chunk seen running
    with ChunkKiller(settings) as killer:
        outcome = run_job(job, settings, console=Console(file=shown))
    assert outcome.exit_code == 0, outcome.failures
    assert killer.killed is not None, "no chunk was seen running"
    with session_scope(catalog(settings)) as session:
        arts = {(a.kind, a.name): a for a in session.scalars(select(Artifact).where(
            Artifact.job_id == outcome.job_id))}
        video, sheet = arts["proliferation", "rings"], arts["contact_sheet", "rings-sheet"]
        plan = arts["render_plan", "rings"].params
        targets = dict(session.execute(select(Target.stage, func.count()).where(
            Target.job_id == outcome.job_id, Target.status == TargetStatus.DONE)
            .group_by(Target.stage)).all())
        spans = session.execute(select(SubsetMember.vstart, SubsetMember.vdur).where(
            SubsetMember.col.is_not(None))).all()
        frames, duration = video.params["frames"], video.duration
        path, sheet_path = Path(video.path), Path(sheet.path)
    assert sheet_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one chunk per chunk_s (1 s) of the video's frames, however long the samples made it
    chunks = math.ceil(frames / 24)
    assert 10 <= chunks <= 16 and plan["chunks"] == chunks and len(plan["sources"]) == 3
    # run's progress lines and its outcome count the render's parts
    line = f"render rings: chunks {chunks}/{chunks}, cache 3/3, mix done, joined"
    assert line in shown.getvalue()
    assert [r.line() for r in outcome.renders] == [line]
    # vsamples once per film, the render planned once, then its parts as targets of their own
    assert targets["vsamples"] == 3 and targets["render"] == 1
    assert targets["render_cache"] == 3 and targets["render_chunk"] == chunks + 1  # + the mix
    assert targets["render_join"] == 1
    assert len(spans) == 16 and all(vs is not None and vd >= 1 for vs, vd in spans)
    comp = Composition.load(settings.data_dir / "work" / f"job-{outcome.job_id}" / "rings")
    assert comp.scene.n_frames == frames and duration == pytest.approx(frames / 24)
    # each sample starts at (or just before) a beep, where its film turns white for 3 frames;
    # the cell lights at full brightness at once (flash = 0.01), so white shows from the
    # first frame the cell shows the flash
    m = comp.members
    events_ms = np.array(EVENTS) * 1000
    offsets = {}
    for c in range(len(m)):
        nxt = events_ms[events_ms >= m.start_ms[c] - 15]
        offsets[c] = float(nxt[0] - m.start_ms[c]) if nxt.size else 0.0
    assert all(-15 <= o <= 60 for o in offsets.values()), offsets
    assert assert_cells_light_on_their_beeps(path, comp, offsets) == len(comp.plays) == 16

    # the killed chunk alone was redone: every part completed exactly once
    runs, done = part_runs(settings, outcome.job_id)
    assert runs[killer.killed] >= 2 and done[killer.killed] == 1, runs
    assert set(done.values()) == {1}
    # two worker processes rendered chunks side by side (the killed one's replacement may
    # add a third pid); one worker gives the same bytes as two workers with a kill
    assert len(chunk_workers(settings, outcome.job_id)) >= 2
    two = digest(path)
    render_again(settings, monkeypatch, outcome.job_id, path, workers=1)
    assert digest(path) == two
    assert len(chunk_workers(settings, outcome.job_id)) == 1
    _, done = part_runs(settings, outcome.job_id)
    assert set(done.values()) == {1}

    # samplemill render: a frame, a preview and an excerpt of the same render, here
    runner = CliRunner()
    out = settings.job_output_dir(outcome.job_id)
    done = runner.invoke(render, [str(outcome.job_id), "--frame", "60"])
    assert done.exit_code == 0, done.output
    png = out / "rings-frame-60.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with av.open(str(png)) as c:
        assert next(c.decode(video=0)).width == 256
    done = runner.invoke(render, [str(job), "--preview"])
    assert done.exit_code == 0, done.output
    with av.open(str(out / "rings-preview.mp4")) as c:
        first = next(c.decode(video=0))
        assert (first.width, first.height) == (64, 36)
    done = runner.invoke(render, [str(outcome.job_id), "--start", "2", "--duration", "1.5"])
    assert done.exit_code == 0, done.output
    with av.open(str(out / "rings-2s-1.5s.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 36
    bad = runner.invoke(render, [str(outcome.job_id), "--start", "2"])
    assert bad.exit_code != 0 and "--duration" in bad.output

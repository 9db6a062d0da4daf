"""The picture stages through real workers: frames → loops, duplicates and a frame map on a
folder of generated films (and one audio-only file, which the picture stages skip)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import select

from db.engine import session_scope
from db.models import Artifact, Duplicate, File, FrameSet, Loop, Target
from scheduler.cli import main
from scheduler.run import run_job
from tests.frames.filmgen import Shot, repeats, shared, write_film
from tests.mediagen import write_media
from tests.pipeline_harness import catalog, configure
from worker.frames.store import FrameSet as StoredFrameSet

JOB = """
name = "picture"
[source]
kind = "local"
folder = "films"
patterns = ["*.mp4", "*.m4a"]
[frames]
[loops]
[duplicates]
[[frame_map]]
name = "all"
methods = ["tsne"]
iterations = 250
thumb_width = 32
picture_size = 512
"""


def test_picture_stages_through_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    films = tmp_path / "films"
    films.mkdir()
    a = write_film(films / "a.mp4", [Shot(61, 0, 60), Shot(62, 0, 70), Shot(0, 0, 20, "black"),
                                     Shot(61, 10, 40, noise=3, seed=1), Shot(63, 0, 40)],
                   size=(160, 90))
    b = write_film(films / "b.mp4", [Shot(64, 0, 50), Shot(62, 5, 60, gain=1.05, noise=3,
                                                          seed=2), Shot(65, 0, 50)],
                   size=(192, 108), render_size=(160, 90), audio=True)
    write_media(films / "voice.m4a", np.zeros(22050, np.float32), 22050)
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    outcome = run_job(job, settings, console=Console(file=io.StringIO()))
    assert outcome.exit_code == 0, outcome.failures
    engine = catalog(settings)
    with session_scope(engine) as session:
        files = {f.name: f.id for f in session.scalars(
            select(File).where(File.job_id == outcome.job_id))}
        targets = {(t.stage, t.file_id): t.status for t in session.scalars(
            select(Target).where(Target.job_id == outcome.job_id))}
        sets = {s.file_id: (s.path, s.frames, s.fps) for s in session.scalars(select(FrameSet))}
        loops = [(lp.file_id, lp.first_frame, lp.repeat_frame, lp.frames, lp.first_start)
                 for lp in session.scalars(select(Loop).where(Loop.job_id == outcome.job_id))]
        dups = [(d.file_a, d.file_b, d.a_frame, d.b_frame, d.frames, d.b_start)
                for d in session.scalars(select(Duplicate).where(
                    Duplicate.job_id == outcome.job_id))]
        artifacts = {(x.kind, x.name): (Path(x.path), x.params) for x in session.scalars(
            select(Artifact).where(Artifact.job_id == outcome.job_id))}
    # frames ran on both films and was skipped on the audio-only file
    assert targets[("frames", files["voice.m4a"])] == "skipped"
    assert sets.keys() == {files["a.mp4"], files["b.mp4"]}
    path, frames, fps = sets[files["a.mp4"]]
    assert frames == a.frames and fps == 25.0
    assert len(StoredFrameSet(path)) == a.frames
    # the loop planted in a.mp4, exact to the frame, and none in b.mp4
    (rep,) = repeats(a)
    assert loops == [(files["a.mp4"], rep.first, rep.repeat, rep.length, rep.first / 25)]
    # the stretch a.mp4 and b.mp4 share
    (sh,) = shared([a, b])
    assert dups == [(files["a.mp4"], files["b.mp4"], sh.a_first, sh.b_first, sh.length,
                     sh.b_first / 25)]
    # a picture of each film's loops, and the frame map with its JSON, sprites and picture
    assert artifacts[("loop_plot", f"loops-{files['a.mp4']}")][0].is_file()
    json_path, params = artifacts[("frame_map", "all")]
    items = json.loads(json_path.read_text())
    assert len(items) == params["frames"] == len(np.arange(0, a.frames / 25, 1.0)) + len(
        np.arange(0, b.frames / 25, 1.0))
    assert {it["file"] for it in items} == {"a.mp4", "b.mp4"}
    assert set(items[0]) == {"src", "file", "t", "tsne_gray", "tsne_hsl"}
    assert Path(params["picture"]).is_file()
    assert (json_path.parent / items[0]["src"].split("#")[0]).is_file()
    # loops in the query language, with file columns
    run = CliRunner().invoke(main, ["query", "loops", "--job", str(outcome.job_id), "--where",
                                    "similarity>0.9&file.filename=a.mp4&length>=1.5",
                                    "--columns", "file.filename,firstStart,repeatStart,length",
                                    "--format", "json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output) == [{"file.filename": "a.mp4", "firstStart": rep.first / 25,
                                       "repeatStart": rep.repeat / 25,
                                       "length": rep.length / 25}]
    none = CliRunner().invoke(main, ["query", "loops", "--job", str(outcome.job_id), "--where",
                                     "file.filename=b.mp4", "--format", "json"])
    assert none.exit_code == 0 and json.loads(none.output) == []

"""Remix and resynth as job renders, end to end through real worker processes on the embedded
default: films → probe → samples → subset → frame features → index → renders; then
`samplemill resynth --job` reuses the stored features and index."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import select

from db.engine import session_scope
from db.models import Artifact, Target
from scheduler.cli import main
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure
from tests.render.soundgen import decode_codes, phrases, tone_track, write_coded_film
from worker.render.resynth.store import features_path

SR = 48000

JOB = """
name = "sound-video"
[source]
kind = "local"
folder = "films"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "main"
[[render]]
kind = "remix"
duration = 15.0
seed = 3
films = 2
[[render]]
kind = "resynth"
target = "target.wav"
audio = "mix"
fps = 24
"""


def test_remix_and_resynth_renders_through_workers(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    films = tmp_path / "films"
    films.mkdir()
    for i in range(2):
        rng = np.random.default_rng(40 + i)
        durs = [(float(rng.uniform(0.4, 1.2)), float(rng.uniform(0.25, 0.5))) for _ in range(12)]
        y, _ = phrases(durs, SR, seed=40 + i)
        write_coded_film(films / f"film{i}.mp4", y, SR, film=i)
    sf.write(tmp_path / "target.wav", tone_track([60, 64, 67, 72], 0.75, SR), SR)
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    outcome = run_job(job, settings, console=Console(file=io.StringIO()))
    assert outcome.exit_code == 0, outcome.failures
    engine = catalog(settings)
    with session_scope(engine) as session:
        artifacts = {a.name: a for a in session.scalars(
            select(Artifact).where(Artifact.job_id == outcome.job_id))}
        stages = [t.stage for t in session.scalars(
            select(Target).where(Target.job_id == outcome.job_id))]
        artifacts = {k: (a.kind, Path(a.path), a.params, a.duration) for k, a in artifacts.items()}
    assert stages.count("frame_features") == 2 and stages.count("frame_index") == 1
    # remix: the mp4 shows exactly the edit list's frames, within one segment of 15 s
    kind, path, params, duration = artifacts["remix-main"]
    assert kind == "remix" and path.is_file()
    edits = json.loads(path.with_suffix(".edits.json").read_text())
    codes = decode_codes(path)
    assert codes == [e["source_frame"] + j for e in edits for j in range(e["frames"])]
    assert {e["film"] for e in edits} == {str(films / "film0.mp4"), str(films / "film1.mp4")}
    assert 15.0 - max(e["dur"] for e in edits) <= duration <= 15.0
    # the index was its own target; the resynth render reused it
    kind, folder, params_ix, _ = artifacts["main:faiss-ivf"]
    assert kind == "frame_index" and (folder / "index.json").is_file()
    assert params_ix["films"] == 2
    kind, path, params, duration = artifacts["resynth-main"]
    assert kind == "resynth" and params["index"] == str(folder)
    assert duration == pytest.approx(3.0, abs=0.1)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 72 and c.streams.audio
    runs = json.loads(path.with_suffix(".runs.json").read_text())
    assert sum(r["frames"] for r in runs) == 72
    # per-file features live beside the catalog; the command reuses them and the index
    with session_scope(engine) as session:
        from db.sound_video import job_films

        ids = [i for i, _ in job_films(session, outcome.job_id, "main")]
    assert all(features_path(settings.data_dir, i).is_file() for i in ids)
    out = tmp_path / "cli.mp4"
    run = CliRunner().invoke(main, ["resynth", str(tmp_path / "target.wav"), "--job",
                                    str(outcome.job_id), "--subset", "main", "--fps", "24",
                                    "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "index reused" in run.output and out.is_file()


def test_job_specs_check_the_sound_video_renders(tmp_path: Path) -> None:
    from core.errors import ConfigError
    from scheduler.jobspec import validate_spec

    (tmp_path / "films").mkdir()
    (tmp_path / "t.wav").write_bytes(b"")

    def spec(*renders: dict) -> dict:
        return {"name": "x", "source": {"kind": "local", "folder": "films"},
                "probe": {}, "analyze": {}, "subset": [{"name": "main"}],
                "render": list(renders)}

    out = validate_spec(spec({"kind": "remix", "duration": 60}, {"kind": "resynth",
                                                                  "target": "t.wav"}),
                        base=tmp_path)
    assert out["render"][1]["target"] == str(tmp_path / "t.wav")
    with pytest.raises(ConfigError, match=r"render\[0\]\.target: no such file"):
        validate_spec(spec({"kind": "resynth", "target": "missing.wav"}), base=tmp_path)
    with pytest.raises(ConfigError, match="needs target"):
        validate_spec(spec({"kind": "resynth"}), base=tmp_path)
    with pytest.raises(ConfigError, match="duration"):
        validate_spec(spec({"kind": "remix", "duration": -1}), base=tmp_path)
    with pytest.raises(ConfigError, match="crossfade_msec"):
        validate_spec(spec({"kind": "remix", "crossfade_msec": 5}), base=tmp_path)

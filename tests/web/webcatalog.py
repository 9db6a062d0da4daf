"""A small real catalog for the web app's tests: a tone file in the data directory with its
samples (known pitches), a file outside it, a subset with a layout, artifacts (a real PNG and
WAV, plus rows whose paths escape the data directory by `..`, a symlink and an absolute path),
and a failed target with its traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from db.bulk import replace_samples
from db.engine import session_scope
from db.models import (
    Artifact,
    File,
    Item,
    Job,
    JobStatus,
    Subset,
    SubsetMember,
    Target,
    TargetStatus,
    TaskRun,
    utcnow,
)
from tests.mediagen import tone_sequence, write_media

SR = 22050
SPEC = {"name": "webtest", "source": {"kind": "local", "folder": "/nowhere",
                                      "patterns": ["*.wav"]}, "probe": {}, "analyze": {}}
TRACEBACK = ('Traceback (most recent call last):\n  File "worker/tasks/analyze.py", line 28\n'
             "core.errors.MediaError: outside.mp4: decoding failed: Invalid data")


@dataclass
class WebCatalog:
    """Ids and paths of what `build` wrote."""

    job_id: int
    inside_file: int
    outside_file: int
    inside_path: Path
    outside_path: Path
    samples: list[int]
    f0: list[float]
    starts: list[float]
    durs: list[float]
    failed_target: int
    subset: str = "main"
    artifacts: dict[str, int] = field(default_factory=dict)


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)


def build(engine: Engine, data_dir: Path, outside_dir: Path) -> WebCatalog:
    """Write the catalog and its media; see the module docstring."""
    media = data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    audio, truth = tone_sequence(12, SR, seed=3, gap_range=(0.4, 0.6), db_levels=(-6.0,),
                                 f0_range=(200.0, 800.0))
    inside = write_media(media / "tones.wav", audio, SR)
    outside_dir.mkdir(parents=True, exist_ok=True)
    outside = write_media(outside_dir / "outside.mp4", audio, SR)
    secret = outside_dir / "secret.txt"
    secret.write_text("root:x:0:0:secret\n")
    with session_scope(engine) as s:
        job = Job(name="webtest", spec=SPEC, status=JobStatus.FAILED,
                  error="some targets failed", finished_at=utcnow())
        s.add(job)
        s.flush()
        item = Item(job_id=job.id, identifier="tones_1950", source="internet_archive",
                    title="Tones of 1950", year=1950)
        s.add(item)
        s.flush()
        fin = File(job_id=job.id, item_id=item.id, key="tones.wav", name="tones.wav",
                   path=str(inside), duration=len(audio) / SR, has_audio=True, has_video=False,
                   container="wav", audio_codec="pcm_s16le", sample_rate=SR, channels=1,
                   size=inside.stat().st_size, samples=len(truth.f0))
        fout = File(job_id=job.id, key="outside.mp4", name="outside.mp4", path=str(outside),
                    duration=len(audio) / SR, has_audio=True)
        s.add_all([fin, fout])
        s.flush()
        starts = (truth.onsets * 1000).round(1)
        durs = np.minimum(truth.durations * 1000 - 20, 450).round(1)
        midi = 69 + 12 * np.log2(truth.f0 / 440)
        replace_samples(s, job_id=job.id, file_id=fin.id, vectors=None, columns={
            "start": starts, "dur": durs, "power": np.linspace(0.1, 0.9, len(starts)),
            "hz": truth.f0, "note": ["A"] * len(starts), "octave": np.full(len(starts), 4),
            "midi": midi, "clarity": np.full(len(starts), 0.9)})
        replace_samples(s, job_id=job.id, file_id=fout.id, vectors=None, columns={
            "start": starts[:4], "dur": durs[:4], "power": np.full(4, 0.5), "hz": truth.f0[:4],
            "note": ["A"] * 4, "octave": np.full(4, 4), "midi": midi[:4],
            "clarity": np.full(4, 0.5)})
        from db.read import web as wread

        ids = [x.id for x in wread.file_samples(s, fin.id)]
        subset = Subset(job_id=job.id, name="main", spec={}, members_count=len(ids),
                        layout={"grid": "4x4"})
        s.add(subset)
        s.flush()
        rng = np.random.default_rng(0)
        for pos, sid in enumerate(ids):
            s.add(SubsetMember(subset_id=subset.id, position=pos, sample_id=sid,
                               tsne=pos / (len(ids) - 1), x=float(rng.uniform(0.05, 0.95)),
                               y=float(rng.uniform(0.05, 0.95)), col=pos % 4, row=pos // 4))
        out = data_dir / "output" / f"job-{job.id}"
        out.mkdir(parents=True, exist_ok=True)
        _png(out / "layout-main.png")
        write_media(out / "sorted.wav", audio[: SR * 2], SR)
        (out / "link.txt").symlink_to(secret)
        paths = {
            "picture": out / "layout-main.png", "audio": out / "sorted.wav",
            "dotdot": Path(f"{out}/../../../{outside_dir.name}/secret.txt"),
            "symlink": out / "link.txt", "absolute": secret, "missing": out / "gone.wav",
        }
        artifacts = {}
        for name, path in paths.items():
            a = Artifact(job_id=job.id, kind="layout_plot" if name == "picture" else "test",
                         name=name, path=str(path), size=None, subset_id=subset.id)
            s.add(a)
            s.flush()
            artifacts[name] = a.id
        s.add(Target(job_id=job.id, stage="probe", key=str(fin.id), file_id=fin.id,
                     status=TargetStatus.DONE, attempts=1, finished_at=utcnow()))
        failed = Target(job_id=job.id, stage="probe", key=str(fout.id), file_id=fout.id,
                        status=TargetStatus.FAILED, attempts=3, finished_at=utcnow(),
                        error="MediaError: outside.mp4: decoding failed: Invalid data")
        s.add(failed)
        s.flush()
        s.add(TaskRun(target_id=failed.id, job_id=job.id, stage="probe", key=failed.key,
                      attempt=3, worker="w1", run_token="t" * 36, status=TargetStatus.FAILED,
                      finished_at=utcnow(), error=failed.error, traceback=TRACEBACK))
        cat = WebCatalog(job.id, fin.id, fout.id, inside, outside, ids,
                         [float(f) for f in truth.f0], [float(x) for x in starts],
                         [float(x) for x in durs], failed.id, artifacts=artifacts)
    os.utime(inside)
    return cat

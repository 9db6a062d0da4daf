"""Task `samplemill.loops`: the loops of one file from its stored fingerprints, into `loops`,
with a picture of them along the file's timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import PermanentError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.frames import frame_set_path, replace_loops
from worker.app import app
from worker.frames.params import LoopsParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.loops")
def loops(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def loop_rows(loops: list, index: np.ndarray, every: int) -> list[dict]:
    """Catalog rows of loops, frame numbers counted in decoded frames."""
    rows = []
    for lp in loops:
        first, repeat = int(index[lp.first]), int(index[lp.repeat])
        span = int(index[lp.first + lp.frames - 1]) - first + every
        rows.append({"first_frame": first, "repeat_frame": repeat, "frames": span,
                     "first_start": lp.first_start, "repeat_start": lp.repeat_start,
                     "length": lp.length, "similarity": lp.similarity, "period": lp.period,
                     "copies": lp.copies})
    return rows


def handle(ctx: TargetContext, params: LoopsParams) -> None:
    from worker.frames.align import Seq
    from worker.frames.loop_plot import plot_loops
    from worker.frames.loops import find_loops
    from worker.frames.store import FrameSet

    assert ctx.file is not None
    with session_scope(ctx.engine) as session:
        folder = frame_set_path(session, ctx.file.id)
    if folder is None:
        raise PermanentError(f"{ctx.file.key}: no frame set (the frames stage did not run)")
    fs = FrameSet(folder)
    lp = params.loop_params()
    seq = Seq.from_arrays(fs.phash, fs.dhash, fs.stats, fs.thumb_gray, fs.t, fs.fps,
                          min_contrast=lp.min_contrast)
    found = find_loops(seq, lp)
    picture: Path | None = None
    if params.plot:
        picture = ctx.output_path(f"loops-{ctx.file.id}.png")
        plot_loops(found, fs.duration, picture, t=np.asarray(fs.t), color=np.asarray(fs.color),
                   title=f"{ctx.file.key}: {len(found)} loop(s)")
    rows = loop_rows(found, np.asarray(fs.index), int(fs.meta["params"]["every"]))
    with ctx.commit() as session:
        replace_loops(session, ctx.job_id, ctx.file.id, rows)
        if picture is not None:
            record_artifact(session, job_id=ctx.job_id, subset_id=None, kind="loop_plot",
                            name=f"loops-{ctx.file.id}", path=picture,
                            params={**params.model_dump(), "file": ctx.file.key,
                                    "loops": len(rows)}, duration=fs.duration)

"""Task `samplemill.duplicates`: stretches shared between the job's files, from their stored
fingerprints, into `duplicates`."""

from __future__ import annotations

import numpy as np

from db.engine import session_scope
from db.frames import job_frame_sets, replace_duplicates
from worker.app import app
from worker.frames.params import DuplicatesParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.duplicates")
def duplicates(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: DuplicatesParams) -> None:
    from worker.frames.align import Seq
    from worker.frames.duplicates import find_duplicates
    from worker.frames.store import FrameSet

    with session_scope(ctx.engine) as session:
        sets = {fid: folder for fid, _, _, folder in job_frame_sets(session, ctx.job_id)}
    dp = params.duplicate_params()

    def load(fid: int) -> Seq:
        fs = FrameSet(sets[fid])
        return Seq.from_arrays(fs.phash, fs.dhash, fs.stats, fs.thumb_gray, fs.t, fs.fps,
                               min_contrast=dp.min_contrast)

    found = find_duplicates(sorted(sets), load, dp)
    rows = []
    index: dict[int, tuple[np.ndarray, int]] = {}
    for d in found:
        for fid in (d.a, d.b):
            if fid not in index:
                fs = FrameSet(sets[fid])
                index[fid] = (np.asarray(fs.index), int(fs.meta["params"]["every"]))
        ia, every = index[d.a]
        ib, _ = index[d.b]
        rows.append({"file_a": d.a, "file_b": d.b, "a_frame": int(ia[d.a_first]),
                     "b_frame": int(ib[d.b_first]),
                     "frames": int(ia[d.a_first + d.frames - 1] - ia[d.a_first]) + every,
                     "a_start": d.a_start, "b_start": d.b_start, "length": d.length,
                     "similarity": d.similarity})
    with ctx.commit() as session:
        replace_duplicates(session, ctx.job_id, rows)

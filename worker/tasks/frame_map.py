"""Task `samplemill.frame_map`: one [[frame_map]] of the job's films: the seed's JSON, sprite
sheets and a picture in `<data>/output/job-N/frame-map-<name>/`, recorded as an artifact."""

from __future__ import annotations

from fnmatch import fnmatch

import numpy as np

from core.errors import PermanentError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.frames import job_frame_sets
from worker.app import app
from worker.frames.params import FrameMapStageParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.frame_map")
def frame_map(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: FrameMapStageParams) -> None:
    from worker.frames.framemap import (
        FrameSample,
        compute_layouts,
        from_frames,
        rate_rows,
        sample_video,
        write_map,
    )
    from worker.frames.store import FrameSet

    with session_scope(ctx.engine) as session:
        sets = [s for s in job_frame_sets(session, ctx.job_id) if fnmatch(s[1], params.files)]
    if not sets:
        raise PermanentError(f"frame_map {params.name}: no film with a frame set matches "
                             f"{params.files!r}")
    mp = params.map_params()
    samples = []
    for _, key, media, folder in sets:
        fs = FrameSet(folder)
        rows = rate_rows(fs.t, mp.rate, fs.fps)
        if mp.thumb_width > 16 and media:
            samples.append(sample_video(media, key, times=np.asarray(fs.t)[rows],
                                        thumb_width=mp.thumb_width))
        else:
            samples.append(from_frames(key, fs, rows))
    sample = FrameSample.concat(samples)
    layouts = compute_layouts(sample, mp)
    folder_out = ctx.settings.job_output_dir(ctx.job_id) / f"frame-map-{params.name}"
    files = write_map(folder_out, sample, layouts, mp, name="frame-map",
                      title=f"job {ctx.job_id}, frame map {params.name}: {len(sample)} frames")
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=None, kind="frame_map",
                        name=params.name, path=files.json,
                        params={**params.model_dump(), "frames": files.frames,
                                "films": len(sets), "layouts": files.layouts,
                                "picture": str(files.picture) if files.picture else None},
                        duration=None)

"""Task `samplemill.frame_index`: the index over one subset's frame features, built once and
recorded as an artifact; resynth renders of that subset load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import PermanentError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_row
from db.sound_video import job_films
from worker.app import app
from worker.render.resynth.store import SourceFile, ensure_index, features_path, index_name
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.frame_index")
def frame_index(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: Any) -> None:
    subset, _, backend = ctx.key.partition(":")
    data_dir = ctx.settings.data_dir
    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, subset).id
        films = [SourceFile(i, Path(p)) for i, p in job_films(session, ctx.job_id, subset)]
    films = [f for f in films if features_path(data_dir, f.id).exists()]
    if not films:
        raise PermanentError(f"subset {subset!r}: no film has frame features")
    index, folder, built = ensure_index(data_dir, index_name(ctx.job_id, subset), films,
                                        backend=backend)
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind="frame_index",
                        name=ctx.key, path=folder, duration=None,
                        params={"films": len(films), "frames": index.size, "backend": backend,
                                "build_seconds": round(index.build_seconds, 3), "built": built})

"""Task `samplemill.frames`: one video file's fingerprints, stored as arrays beside the catalog
(`<data>/frames/<file id>/`) and referenced from `frame_sets`."""

from __future__ import annotations

from core.errors import PermanentError
from db.frames import store_frame_set
from worker.app import app
from worker.frames.params import FramesParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.frames")
def frames(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: FramesParams) -> None:
    from worker.frames.store import write_frame_set

    assert ctx.file is not None
    if not ctx.file.path:
        raise PermanentError(f"{ctx.file.key}: no local copy to fingerprint")
    folder = ctx.settings.data_dir / "frames" / str(ctx.file.id)
    summary = write_frame_set(ctx.file.path, folder, params.fingerprint())
    info = summary.meta["info"]
    with ctx.commit() as session:
        store_frame_set(session, ctx.file.id, path=str(folder), frames=summary.frames,
                        fps=summary.fps, duration=summary.duration, every=params.every,
                        width=info["width"], height=info["height"], rotation=info["rotation"],
                        decode_errors=summary.decode_errors, size=summary.bytes,
                        params=params.model_dump())

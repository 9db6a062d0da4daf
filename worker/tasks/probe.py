"""Task `samplemill.probe`: duration, audio and video tracks of one file."""

from __future__ import annotations

from core.errors import PermanentError
from db.files import update_file
from worker.analysis.params import ProbeParams
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.probe")
def probe(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: ProbeParams) -> None:
    from worker.analysis.probe import probe_media

    assert ctx.file is not None
    if not ctx.file.path:
        raise PermanentError(f"{ctx.file.key}: no local copy to probe")
    result = probe_media(ctx.file.path, fast=params.fast)
    with ctx.commit() as session:
        update_file(session, ctx.file.id, **result.to_dict())

"""Task `samplemill.checksum`: size and md5 of a local file, catalogued in place."""

from __future__ import annotations

from pathlib import Path

from core.errors import PermanentError
from db.files import update_file
from worker.app import app
from worker.sources.params import ChecksumParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.checksum")
def checksum(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: ChecksumParams) -> None:
    from worker.sources.local import md5_file

    assert ctx.file is not None and ctx.file.path
    path = Path(ctx.file.path)
    if not path.is_file():
        raise PermanentError(f"{path}: file is gone")
    size = path.stat().st_size
    md5 = md5_file(path)
    with ctx.commit() as session:
        update_file(session, ctx.file.id, size=size, md5=md5)

"""A trivial extra stage for the foundation tests, loaded by workers via SAMPLEMILL_EXTRA_STAGES.

`fake_analyze` writes `samples_per_file` synthetic samples per file with a delete-then-insert,
so a non-idempotent run would show up as duplicate sample rows; `sleep_s` makes it long enough
to kill mid-task, and files whose name contains `fail_marker` fail permanently (while the file
`refuse_while` exists, when it is given: deleting it is how a test fixes the cause).
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import delete

from core.errors import PermanentError
from core.stages import Stage, StageParams, register
from db.models import File, Sample
from worker.app import app
from worker.tasks.runner import TargetContext, run_target


class FakeAnalyzeParams(StageParams):
    samples_per_file: int = 3
    sleep_s: float = 0.0
    fail_marker: str = ""
    refuse_while: str = ""


register(
    Stage(
        name="fake_analyze",
        queue="cpu",
        scope="file",
        order=31,
        task_name="tests.fake_analyze",
        params=FakeAnalyzeParams,
        table="fake_analyze",
        enabled=lambda spec: "fake_analyze" in spec,
        description="test stage: synthetic samples",
    )
)


@app.task(name="tests.fake_analyze")
def fake_analyze(target_id: int) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: FakeAnalyzeParams) -> None:
    assert ctx.file is not None
    refusing = not params.refuse_while or Path(params.refuse_while).exists()
    if params.fail_marker and params.fail_marker in ctx.file.key and refusing:
        raise PermanentError(f"{ctx.file.key}: refused by the test stage")
    if params.sleep_s:
        time.sleep(params.sleep_s)
    size = ctx.file.size or 0
    with ctx.commit() as session:
        session.execute(delete(Sample).where(Sample.file_id == ctx.file.id))
        for i in range(params.samples_per_file):
            session.add(Sample(job_id=ctx.job_id, file_id=ctx.file.id, idx=i, start=i * 100.0,
                               dur=100.0, power=float(size), hz=0.0, note="-", octave=-1,
                               midi=0.0, clarity=0.0))
        row = session.get(File, ctx.file.id)
        assert row is not None
        row.samples = params.samples_per_file

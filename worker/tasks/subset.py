"""Task `samplemill.subset`: select and store one named subset of a job's samples."""

from __future__ import annotations

from db.subsets import SubsetParams, create_subset
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.subset")
def subset(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: SubsetParams) -> None:
    with ctx.commit() as session:
        create_subset(session, ctx.job_id, params)

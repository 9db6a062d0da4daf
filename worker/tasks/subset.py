"""Task `samplemill.subset`: select and store one named subset of a job's samples."""

from __future__ import annotations

from worker.app import app
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.subset")
def subset(target_id: int) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext) -> None:
    from db.subsets import create_subset

    spec = next(s for s in ctx.spec.get("subset", []) if s["name"] == ctx.key)
    with ctx.commit() as session:
        create_subset(session, ctx.job_id, spec)

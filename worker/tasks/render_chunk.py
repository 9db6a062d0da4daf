"""Task `samplemill.render_chunk`: one frame-range chunk of a planned grid video into its
segment, or its audio mix (worker.render.gridkind.handler.render_part)."""

from __future__ import annotations

from core.render_kinds import RenderParams
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.render_chunk")
def render_chunk(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: RenderParams) -> None:
    from worker.render.gridkind.handler import render_part

    render_part(ctx, params)  # type: ignore[arg-type]

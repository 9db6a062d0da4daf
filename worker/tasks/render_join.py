"""Task `samplemill.render_join`: a planned grid video's segments and mix into its mp4, with
a contact sheet, recorded as artifacts (worker.render.gridkind.handler.join)."""

from __future__ import annotations

from core.render_kinds import RenderParams
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.render_join")
def render_join(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: RenderParams) -> None:
    from worker.render.gridkind.handler import join

    join(ctx, params)  # type: ignore[arg-type]

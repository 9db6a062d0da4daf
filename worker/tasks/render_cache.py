"""Task `samplemill.render_cache`: one source file's clips into a planned grid video's clip
cache (worker.render.gridkind.handler.build_cache)."""

from __future__ import annotations

from core.render_kinds import RenderParams
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.render_cache")
def render_cache(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: RenderParams) -> None:
    from worker.render.gridkind.handler import build_cache

    build_cache(ctx, params)  # type: ignore[arg-type]

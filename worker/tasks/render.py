"""Task `samplemill.render`: render one composition (sorted audio, ...) from a subset."""

from __future__ import annotations

from worker.app import app
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.render")
def render(target_id: int) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext) -> None:
    from worker.tasks.render_sorted_audio import render_sorted_audio_target

    spec = next(
        r for r in ctx.spec.get("render", [])
        if (r.get("name") or f"{r['kind']}-{r.get('subset', 'main')}") == ctx.key
    )
    if spec["kind"] == "sorted_audio":
        render_sorted_audio_target(ctx, spec)

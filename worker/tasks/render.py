"""Task `samplemill.render`: one `[[render]]` entry, handed to its kind's handler
(core.render_kinds; each kind is a package worker/render/<kind>/)."""

from __future__ import annotations

from core.render_kinds import RenderParams, get_kind
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.render")
def render(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: RenderParams) -> None:
    get_kind(params.kind).load_handler()(ctx, params)

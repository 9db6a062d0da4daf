"""The `sorted_audio` render of one `[[render]]` entry: load the subset's members, order them,
render them with the pure renderer and record the artifact."""

from __future__ import annotations

from pathlib import Path

from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_clips, subset_row
from worker.context import TargetContext
from worker.render.members import order_members
from worker.render.sorted_audio.params import SortedAudioParams
from worker.render.sorted_audio.renderer import Clip, render_sorted_audio


def handle(ctx: TargetContext, params: SortedAudioParams) -> None:
    """Render the entry's subset to `<output>/job-N/<name>.<format>`; a clip that cannot be
    decoded becomes silence and is listed on the artifact."""
    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, params.subset).id
        members = subset_clips(session, ctx.job_id, params.subset)
    picked = [members[i] for i in order_members([m.values for m in members], params.sort,
                                                params.limit)]
    out = ctx.output_path(f"{params.resolved_name}.{params.format}")
    result = render_sorted_audio([Clip(Path(m.path), m.start, m.dur) for m in picked], out,
                                 params, on_error="silence")
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                        name=params.resolved_name, path=out, duration=result.duration_s,
                        params={**params.model_dump(mode="json"), "clips": len(picked),
                                "failed_clips": [picked[i].sample_id for i in result.failed]})

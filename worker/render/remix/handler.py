"""The `remix` render of one `[[render]]` entry: the subset's films, cut at their silences."""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import PermanentError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_row
from db.sound_video import job_films
from worker.context import TargetContext
from worker.render.remix.params import RemixParams
from worker.render.remix.render import RemixResult, render_remix


def _artifact_params(params: RemixParams, result: RemixResult) -> dict:
    """What made the file: the parameters, each film's threshold and the edit list."""
    plan = result.plan
    return {**params.model_dump(mode="json"),
            "thresholds": [round(c.threshold, 6) for c in plan.cuts],
            "segments": len(plan.edits), "frames": result.frames,
            "films_used": [str(f) for f in plan.films]}


def handle(ctx: TargetContext, params: RemixParams) -> None:
    """One remix over the subset's first `films` films (or one per film with `each`), written
    to `<output>/job-N/<name>[-<file id>].mp4` with its edit list beside it as JSON."""
    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, params.subset).id
        films = job_films(session, ctx.job_id, params.subset)
    if not films:
        raise PermanentError(f"subset {params.subset!r} has no film with picture and sound")
    groups = ([[f] for f in films] if params.each else [films[: params.films]])
    outputs = []
    for group in groups:
        suffix = f"-{group[0][0]}" if params.each else ""
        out = ctx.output_path(f"{params.resolved_name}{suffix}.mp4")
        result = render_remix([Path(p) for _, p in group], out, params)
        out.with_suffix(".edits.json").write_text(json.dumps(result.plan.edit_rows(), indent=1))
        outputs.append((out, result, suffix))
    with ctx.commit() as session:
        for out, result, suffix in outputs:
            record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                            name=f"{params.resolved_name}{suffix}", path=out,
                            duration=result.duration_s, params=_artifact_params(params, result))

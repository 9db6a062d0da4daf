"""The `resynth` render of one `[[render]]` entry: its target rebuilt from the subset's films,
with the frame features (stage `frame_features`) and the index (stage `frame_index`) reused."""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import PermanentError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_row
from db.sound_video import job_films
from worker.context import TargetContext
from worker.render.resynth.params import ResynthParams
from worker.render.resynth.render import render_resynth
from worker.render.resynth.store import SourceFile, ensure_index, features_path, index_name


def handle(ctx: TargetContext, params: ResynthParams) -> None:
    """Render `<output>/job-N/<name>.mp4`, and `<name>.runs.json` with the chosen runs."""
    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, params.subset).id
        films = [SourceFile(i, Path(p)) for i, p in job_films(session, ctx.job_id,
                                                                 params.subset)]
    if not films:
        raise PermanentError(f"subset {params.subset!r} has no film with picture and sound")
    data_dir = ctx.settings.data_dir
    films = [f for f in films if features_path(data_dir, f.id).exists()]  # as frame_index did
    if not films:
        raise PermanentError(f"subset {params.subset!r}: no film has frame features")
    index, folder, _ = ensure_index(data_dir, index_name(ctx.job_id, params.subset), films,
                                    backend=params.index)
    out = ctx.output_path(f"{params.resolved_name}.mp4")
    result = render_resynth(Path(params.target), index, [f.path for f in films], out, params)
    runs = [{"file": str(films[f].path), "file_id": films[f].id, "first_frame": a, "frames": n}
            for f, a, n in result.run_list()]
    out.with_suffix(".runs.json").write_text(json.dumps(runs, indent=1))
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                        name=params.resolved_name, path=out, duration=result.duration_s,
                        params={**params.model_dump(mode="json"), "index": str(folder),
                                "runs": len(runs), "frames": int(result.files.size),
                                "timings": {k: round(v, 3) for k, v in
                                            result.timings.items()}})

"""The render of one grid video `[[render]]` entry (any kind registered with
`register_grid_kind`): read the subset's grid from the catalog, find each film's picture spans
(vsamples, one pass per film), compose with the kind's function, plan, build the clip cache,
render, mix, join, and record the mp4 and a contact sheet as artifacts.

All the steps run in this one render target for now; the plan is made so that the cache
(per source file), the chunks and the mix can run as targets of their own.
"""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import Engine, select

from core.errors import ConfigError
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import subset_row
from db.models import File, Sample, SubsetMember
from worker.context import TargetContext
from worker.render.clipcache import ClipCache
from worker.render.grid import GridMembers
from worker.render.gridkind import grid_kind
from worker.render.gridvideo import frames_png, render_all
from worker.render.output import VideoRenderParams
from worker.vsamples.film import vsample_film
from worker.vsamples.spans import SpanParams


def load_grid(engine: Engine, job_id: int, subset: str) -> tuple[GridMembers, int, str]:
    """The subset's members on its grid (with picture spans), its id and its digest."""
    with session_scope(engine) as session:
        row = subset_row(session, job_id, subset)
        rows = session.execute(
            select(SubsetMember.sample_id, SubsetMember.col, SubsetMember.row, SubsetMember.x,
                   SubsetMember.y, Sample.start, Sample.dur, File.id, File.path)
            .join(Sample, Sample.id == SubsetMember.sample_id)
            .join(File, File.id == Sample.file_id)
            .where(SubsetMember.subset_id == row.id, SubsetMember.col.is_not(None))
            .order_by(SubsetMember.position)).all()
        subset_id, digest = row.id, row.members_digest or ""
    if not rows:
        raise ConfigError(f"subset {subset!r} has no grid: add a [[layout]] with a grid")
    paths = sorted({r[8] for r in rows})
    index = {p: i for i, p in enumerate(paths)}
    a = np.array([(r[0], r[1], r[2], np.nan if r[3] is None else r[3],
                   np.nan if r[4] is None else r[4], r[5], r[6], index[r[8]]) for r in rows])
    vstart, vdur = np.empty(len(rows)), np.empty(len(rows))
    file_ids = {r[8]: r[7] for r in rows}
    for path, i in index.items():
        sel = a[:, 7] == i
        vs, vd, _ = vsample_film(path, a[sel, 5], a[sel, 6], f"file-{file_ids[path]}",
                                 SpanParams())
        vstart[sel], vdur[sel] = vs, vd
    members = GridMembers(a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6], vstart, vdur,
                          a[:, 7], a[:, 0], tuple(paths))
    return members, subset_id, digest


def handle(ctx: TargetContext, params: VideoRenderParams) -> None:
    """Render `<output>/job-N/<name>.mp4` and `<name>-sheet.png`."""
    members, subset_id, digest = load_grid(ctx.engine, ctx.job_id, params.subset)
    comp = grid_kind(params.kind).compose(members, params)
    name = params.resolved_name
    data = ctx.settings.data_dir
    out = ctx.output_path(f"{name}.mp4")
    plan = render_all(comp, params, out, data / "work" / f"job-{ctx.job_id}" / name,
                      data / "cache" / "clips", digest)
    sheet = frames_png(plan, [int(f) for f in np.linspace(0, plan.frames - 1, 12)],
                       ctx.output_path(f"{name}-sheet.png"))
    mix = json.loads((plan.folder / "mix.json").read_text())
    failed = ClipCache.open(plan.cache).failed()  # films that could not be decoded: black
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                        name=name, path=out, duration=comp.scene.duration_s,
                        params={**params.model_dump(mode="json"), "frames": plan.frames,
                                "chunks": len(plan.chunks), "cache": plan.cache.name,
                                "sheet": str(sheet), "mix": mix, "info": comp.info,
                                "failed_sources": {members.sources[i]: e
                                                   for i, e in failed.items()}})
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id,
                        kind="contact_sheet", name=f"{name}-sheet", path=sheet,
                        duration=None, params={"frames": 12, "of": name})

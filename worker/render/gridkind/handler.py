"""The render of one grid video `[[render]]` entry (any kind registered with
`register_grid_kind`), as targets any worker can take:

- `handle` (the `render` stage's target): read the subset's grid and its picture spans (the
  vsamples stage stored them on the members) from the catalog, compose with the kind's
  function, plan (plan folder, clip cache, chunks) and record the plan in the catalog
  (db.render_plans), from which the part stages take their keys;
- `build_cache` (`render_cache`, one target per source file): that file's clips into the cache;
- `render_part` (`render_chunk`, one target per chunk, and one for the mix);
- `join` (`render_join`): segments and mix into the mp4, a contact sheet, the artifacts.

Each part reads the plan folder and writes its own file under an atomic rename, so a killed
part is redone alone and the bytes never depend on who rendered what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from core.errors import ConfigError
from core.settings import Settings
from core.stages import split_part_key
from db.artifacts import record_artifact
from db.engine import session_scope
from db.layouts import grid_rows, subset_row
from db.render_plans import plan_of, record_plan
from worker.context import TargetContext
from worker.render.clipcache import ClipCache
from worker.render.grid import Composition, GridMembers
from worker.render.gridkind import grid_kind
from worker.render.gridvideo import (
    VideoPlan,
    frames_png,
    join_video,
    load_plan,
    plan_video,
    render_chunk,
    render_mix,
)
from worker.render.output import VideoRenderParams

SHEET_FRAMES = 12


@dataclass(frozen=True)
class Grid:
    """A subset's members on its grid, its id and digest, and each source's file id."""

    members: GridMembers
    subset_id: int
    digest: str
    file_ids: tuple[int, ...]  # by source index
    fallback: int  # members without a picture span (shown over their sound's span)


def read_grid(engine: Engine, job_id: int, subset: str) -> Grid:
    """The subset's grid from the catalog. A member without a picture span (vsamples has not
    run for it, or could not decode its film) shows the span of its sound."""
    with session_scope(engine) as session:
        row = subset_row(session, job_id, subset)
        rows = grid_rows(session, row.id)
        subset_id, digest = row.id, row.members_digest or ""
    if not rows:
        raise ConfigError(f"subset {subset!r} has no grid: add a [[layout]] with a grid")
    paths = sorted({r.path for r in rows})
    index = {p: i for i, p in enumerate(paths)}
    file_ids = {r.path: r.file_id for r in rows}
    nan = np.nan
    vstart = np.array([r.start if r.vstart is None else r.vstart for r in rows], float)
    vdur = np.array([r.dur if r.vdur is None or r.vdur <= 0 else r.vdur for r in rows], float)
    members = GridMembers(
        [r.col for r in rows], [r.row for r in rows],
        [nan if r.x is None else r.x for r in rows], [nan if r.y is None else r.y for r in rows],
        [r.start for r in rows], [r.dur for r in rows], vstart, vdur,
        [index[r.path] for r in rows], [r.sample_id for r in rows], tuple(paths))
    fallback = sum(1 for r in rows if r.vstart is None or r.vdur is None)
    return Grid(members, subset_id, digest, tuple(file_ids[p] for p in paths), fallback)


def load_grid(engine: Engine, job_id: int, subset: str) -> tuple[GridMembers, int, str]:
    """The subset's members on its grid (with picture spans), its id and its digest."""
    grid = read_grid(engine, job_id, subset)
    return grid.members, grid.subset_id, grid.digest


def plan_folder(settings: Settings, job_id: int, name: str) -> Path:
    """Where a render's plan, segments and mix live."""
    return settings.data_dir / "work" / f"job-{job_id}" / name


def clip_cache_root(settings: Settings) -> Path:
    """Where clip caches live (shared by every job: a cache is keyed by what it holds)."""
    return settings.data_dir / "cache" / "clips"


def handle(ctx: TargetContext, params: VideoRenderParams) -> None:
    """Plan the render and record the plan; its part stages do the rest."""
    grid = read_grid(ctx.engine, ctx.job_id, params.subset)
    comp = grid_kind(params.kind).compose(grid.members, params)
    name = params.resolved_name
    folder = plan_folder(ctx.settings, ctx.job_id, name)
    plan = plan_video(comp, params, folder, clip_cache_root(ctx.settings), grid.digest)
    used = sorted({int(s) for s in np.unique(comp.members.source)})
    with ctx.commit() as session:
        record_plan(session, job_id=ctx.job_id, subset_id=grid.subset_id, name=name,
                    folder=plan.folder, chunks=len(plan.chunks),
                    sources=[(i, grid.file_ids[i]) for i in used],
                    info={"kind": params.kind, "frames": plan.frames, "cache": plan.cache.name,
                          "fallback_spans": grid.fallback})


def _plan(ctx: TargetContext, params: VideoRenderParams) -> tuple[VideoPlan, str]:
    """The render's plan (as its planning target recorded it) and this target's part."""
    entry, part = split_part_key(ctx.key)
    with session_scope(ctx.engine) as session:
        record = plan_of(session, ctx.job_id, entry)
    if record is None:
        raise ConfigError(f"render {entry!r} has no plan: its render target has not run")
    return load_plan(record.folder), part


def build_cache(ctx: TargetContext, params: VideoRenderParams) -> None:
    """Build one source file's clips into the render's clip cache (`cache-<i>`); a file that
    cannot be decoded leaves its clips black, says so in the cache, and the render goes on."""
    plan, part = _plan(ctx, params)
    source = int(part.removeprefix("cache-"))
    cache = ClipCache.open(plan.cache)
    if cache.status(source) is None:
        cache.build_source(source)


def render_part(ctx: TargetContext, params: VideoRenderParams) -> None:
    """Render one chunk into its segment (`chunk-<n>`), or mix the audio (`mix`)."""
    plan, part = _plan(ctx, params)
    if part == "mix":
        render_mix(plan)
        return
    i = int(part.removeprefix("chunk-"))
    if i < len(plan.chunks):  # a chunk of an older plan under this name: nothing to do
        render_chunk(plan, i)


def join(ctx: TargetContext, params: VideoRenderParams) -> None:
    """Join the segments with the mix into `<name>.mp4`, write `<name>-sheet.png` and record
    both as artifacts."""
    plan, _ = _plan(ctx, params)
    name = params.resolved_name
    out = ctx.output_path(f"{name}.mp4")
    join_video(plan, out)
    sheet = frames_png(plan, [int(f) for f in np.linspace(0, plan.frames - 1, SHEET_FRAMES)],
                       ctx.output_path(f"{name}-sheet.png"))
    comp = Composition.load(plan.folder)
    mix = json.loads((plan.folder / "mix.json").read_text())
    failed = ClipCache.open(plan.cache).failed()  # films that could not be decoded: black
    with session_scope(ctx.engine) as session:
        record = plan_of(session, ctx.job_id, name)
        subset_id = subset_row(session, ctx.job_id, params.subset).id
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind=params.kind,
                        name=name, path=out, duration=comp.scene.duration_s,
                        params={**params.model_dump(mode="json"), "frames": plan.frames,
                                "chunks": len(plan.chunks), "cache": plan.cache.name,
                                "sheet": str(sheet), "mix": mix, "info": comp.info,
                                "fallback_spans": record.info.get("fallback_spans", 0)
                                if record else 0,
                                "failed_sources": {comp.members.sources[i]: e
                                                   for i, e in failed.items()}})
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id,
                        kind="contact_sheet", name=f"{name}-sheet", path=sheet,
                        duration=None, params={"frames": SHEET_FRAMES, "of": name})


"""The `poster` render: read the grid, compose the still, build the clip cache (one frame per
clip), render the frame, draw the title, write `<name>.png` and record it as an artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from db.artifacts import record_artifact
from worker.context import TargetContext
from worker.render.clipcache import ClipCache
from worker.render.engine.render import render_rgb
from worker.render.engine.scene import Scene
from worker.render.gridkind.handler import clip_cache_root, load_grid, plan_folder
from worker.render.gridvideo import VideoPlan, build_cache, plan_video
from worker.render.poster.compose import compose
from worker.render.poster.params import PosterParams
from worker.render.poster.title import draw_title


def write_poster(plan: VideoPlan, p: PosterParams, out: Path) -> Path:
    """The planned still with its title, as a PNG (with its dpi when printing)."""
    scene = Scene.load(plan.folder / "scene.npz")
    cache = ClipCache.open(plan.cache)
    img = render_rgb(scene, np.asarray(cache.data()), cache.layout, 0)
    img = draw_title(img, p.title, p.text_color, p.text_y)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    dpi = p.print_dpi or 72
    Image.fromarray(img).save(tmp, format="PNG", dpi=(dpi, dpi))
    tmp.replace(out)
    return out


def handle(ctx: TargetContext, params: PosterParams) -> None:
    """Render `<output>/job-N/<name>.png` and record it."""
    members, subset_id, digest = load_grid(ctx.engine, ctx.job_id, params.subset)
    comp = compose(members, params)
    name = params.resolved_name
    plan = plan_video(comp, params, plan_folder(ctx.settings, ctx.job_id, name),
                      clip_cache_root(ctx.settings), digest)
    failed = build_cache(plan)
    out = write_poster(plan, params, ctx.output_path(f"{name}.png"))
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind="poster",
                        name=name, path=out, duration=None,
                        params={**params.model_dump(mode="json"), "info": comp.info,
                                "cache": plan.cache.name, "folder": str(plan.folder),
                                "failed_sources": [members.sources[i] for i in failed]})

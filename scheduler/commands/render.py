"""`samplemill render JOB --kind KIND [--preview] [--frame N] [--start S --duration D]`:
render a grid composition of a job whose layout is done, here, without the queue.

`--preview` renders at a quarter of the size (at most 480 px wide) with x264 ultrafast, to see
the motion in seconds; `--frame N` writes frame N as a PNG; `--start/--duration` writes an
excerpt. Outputs go to the job's output folder, named after the render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.errors import ConfigError
from scheduler.commands.errors import Command


def _job(engine: Any, job: str) -> tuple[int, dict[str, Any]]:
    """A job by id, or by its TOML file (the newest job with that spec)."""
    from db.engine import session_scope
    from db.models import Job

    if job.isdigit():
        with session_scope(engine) as session:
            row = session.get(Job, int(job))
            if row is None:
                raise ConfigError(f"no job {job}")
            return row.id, dict(row.spec)
    from scheduler.jobspec import load_spec
    from scheduler.submit import find_job

    path = Path(job)
    if not path.exists():
        raise ConfigError(f"{job} is neither a job id nor a job file")
    record = find_job(engine, load_spec(path)[0])
    if record is None:
        raise ConfigError(f"{job} has not been submitted; run it first")
    return record.id, dict(record.spec)


def preview_size(width: int, height: int, max_width: int = 480) -> tuple[int, int]:
    """A quarter of the size (at most max_width wide), even, same aspect."""
    w = min(max_width, max(16, width // 4))
    h = round(w * height / width)
    return w - w % 2, max(16, h - h % 2)


@click.command("render", cls=Command)
@click.argument("job")
@click.option("--kind", default="proliferation", show_default=True,
              help="A grid video kind (proliferation, waves, ...).")
@click.option("--name", default=None, help="Which [[render]] of that kind (default: the first).")
@click.option("--preview", is_flag=True, help="Low resolution, fast preset: a quick look.")
@click.option("--frame", type=int, default=None, help="Write this frame as a PNG only.")
@click.option("--start", type=float, default=None, help="Excerpt start (s).")
@click.option("--duration", type=float, default=None, help="Excerpt length (s).")
def render(job: str, kind: str, name: str | None, preview: bool, frame: int | None,
           start: float | None, duration: float | None) -> None:
    """Render JOB's grid composition here (its layout must be done)."""
    from core.render_kinds import get_kind
    from core.settings import get_settings
    from scheduler.context import catalog_engine
    from worker.render.gridkind import grid_kind
    from worker.render.gridvideo import frame_png, plan_video, render_all, render_excerpt

    composer = grid_kind(kind)  # a ConfigError naming the known kinds otherwise
    if (start is None) != (duration is None):
        raise ConfigError("--start and --duration go together")
    settings = get_settings()
    engine = catalog_engine()
    job_id, spec = _job(engine, job)
    entries = [r for r in spec.get("render", []) if r.get("kind") == kind
               and (name is None or (r.get("name") or f"{kind}-{r.get('subset', 'main')}")
                    == name)]
    if not entries:
        raise ConfigError(f"job {job_id} has no [[render]] kind = {kind!r}"
                          + (f" named {name!r}" if name else ""))
    params = get_kind(kind).params(**entries[0])
    label = params.resolved_name
    if preview:
        w, h = preview_size(params.width, params.height)
        params = params.model_copy(update={"width": w, "height": h, "preset": "ultrafast",
                                           "crf": 28})
        label += "-preview"
    from worker.render.gridkind.handler import load_grid

    members, _, digest = load_grid(engine, job_id, params.subset)
    comp = composer.compose(members, params)
    work = settings.data_dir / "work" / f"job-{job_id}" / label
    cache_root = settings.data_dir / "cache" / "clips"
    out_dir = settings.job_output_dir(job_id)
    if frame is None and start is None:
        out = out_dir / f"{label}.mp4"
        plan = render_all(comp, params, out, work, cache_root, digest)
        click.echo(f"{out}  ({plan.frames} frames, {plan.frames / plan.fps:.1f} s)")
        return
    from worker.render.gridvideo import build_cache

    plan = plan_video(comp, params, work, cache_root, digest)
    build_cache(plan)
    if frame is not None:
        if not 0 <= frame < plan.frames:
            raise ConfigError(f"--frame must be in 0..{plan.frames - 1}")
        out = frame_png(plan, frame, out_dir / f"{label}-frame-{frame}.png")
        click.echo(str(out))
        return
    a = round(start * plan.fps)
    b = min(plan.frames, a + max(1, round(duration * plan.fps)))
    out = out_dir / f"{label}-{start:g}s-{duration:g}s.mp4"
    n = render_excerpt(plan, a, b, out)
    click.echo(f"{out}  ({n} frames)")

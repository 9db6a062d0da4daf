"""Commands for the sound-led video renders: `samplemill remix` and `samplemill resynth`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

_PRESETS = click.Choice(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                         "slow", "slower", "veryslow"])


def _video_out(out: Path) -> Path:
    from core.errors import ConfigError

    if out.suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise ConfigError(f"--out must end in .mp4, .mov or .mkv, not {out.suffix or '(none)'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@click.command()
@click.argument("films", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .mp4 (H.264 + AAC).")
@click.option("--duration", type=float, default=300.0, show_default=True,
              help="Target length in seconds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threshold-db", type=float, default=-24.0, show_default=True,
              help="Silent: window peak this far under the film's level.")
@click.option("--absolute-threshold", type=float, default=None,
              help="Silent: window peak under this (the seed's 0.02); overrides --threshold-db.")
@click.option("--window-ms", type=float, default=100.0, show_default=True)
@click.option("--min-sound-ms", type=float, default=300.0, show_default=True)
@click.option("--crossfade-ms", type=float, default=20.0, show_default=True,
              help="Crossfade at joins (0: hard cuts).")
@click.option("--no-repeat", type=int, default=3, show_default=True)
@click.option("--crf", type=float, default=20.0, show_default=True)
@click.option("--preset", type=_PRESETS, default="veryfast", show_default=True)
@click.option("--edits", "edits_json", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the edit list here (JSON).")
def remix(films: tuple[Path, ...], out: Path, edits_json: Path | None, **knobs: Any) -> None:
    """Cut FILMS at their silences and write a seeded random remix of about --duration seconds.

    The first film's first and last segments stay in place; segments of every film fill the
    middle.
    """
    from worker.render.remix.params import RemixParams
    from worker.render.remix.render import render_remix

    params = RemixParams(films=len(films), **knobs)
    result = render_remix(list(films), _video_out(out), params)
    plan = result.plan
    if edits_json:
        edits_json.write_text(json.dumps(plan.edit_rows(), indent=1))
    cuts = ", ".join(f"{c.cuts.size} cuts (silent under peak {c.threshold:.4g})"
                     for c in plan.cuts)
    click.echo(f"{out}: {len(plan.edits)} segments, {result.duration_s:.1f} s "
               f"(target {params.duration:g} s); {cuts}; silence search "
               f"{result.plan_seconds:.1f} s, cut and encode {result.encode_seconds:.1f} s")


@click.command()
@click.argument("target", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .mp4 (H.264 + AAC).")
@click.option("--job", "job_id", type=int, help="Draw frames from this job's films.")
@click.option("--subset", default=None, help="Only the films of this subset of the job.")
@click.option("--source", "sources", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Draw frames from this film (repeatable; instead of --job).")
@click.option("--audio", type=click.Choice(["target", "source", "mix"]), default="target",
              show_default=True, help="Sound of the output.")
@click.option("--k", type=int, default=10, show_default=True, help="Candidates per frame.")
@click.option("--continuity", type=float, default=4.0, show_default=True,
              help="Cost of a cut between runs (0: nearest frame only).")
@click.option("--index", "backend", default="faiss-ivf", show_default=True,
              type=click.Choice(["faiss-ivf", "faiss-hnsw", "hnswlib", "exact"]))
@click.option("--fps", type=float, default=25.0, show_default=True,
              help="Frame rate for an audio-only target.")
@click.option("--crf", type=float, default=20.0, show_default=True)
@click.option("--preset", type=_PRESETS, default="veryfast", show_default=True)
def resynth(target: Path, out: Path, job_id: int | None, subset: str | None,
            sources: tuple[Path, ...], backend: str, **knobs: Any) -> None:
    """Rebuild TARGET's sound from the frames of a job's films (or --source films).

    Frame features and the index are stored beside the catalog and reused.
    """
    from core.errors import ConfigError
    from core.settings import get_settings
    from worker.render.resynth.params import ResynthParams
    from worker.render.resynth.render import render_resynth
    from worker.render.resynth.store import SourceFile, ensure_features, ensure_index

    if (job_id is None) == (not sources):
        raise ConfigError("give either --job N (optionally --subset S) or --source FILM ...")
    data_dir = get_settings().data_dir
    if job_id is not None:
        from db.engine import session_scope
        from db.sound_video import job_films
        from scheduler.context import catalog_engine

        with session_scope(catalog_engine()) as session:
            rows = job_films(session, job_id, subset)
        films = [SourceFile(i, Path(p)) for i, p in rows]
        name = f"job-{job_id}-{subset or 'all'}"
        index, folder, built = ensure_index(
            data_dir, name, films, backend=backend,
            load=lambda s: ensure_features(data_dir, s)[1])
    else:
        from worker.render.resynth.features import frame_features
        from worker.render.resynth.index import build_index

        films = [SourceFile(i, p) for i, p in enumerate(sources)]
        index = build_index([frame_features(p).feats for p in sources], backend=backend,
                            files=[str(p) for p in sources])
        folder, built = None, True
    params = ResynthParams(index=backend, subset=subset or "main", **knobs)
    result = render_resynth(target, index, [f.path for f in films], _video_out(out), params)
    t = result.timings
    where = f"index {'built' if built else 'reused'}" + (f" at {folder}" if folder else "")
    click.echo(f"{out}: {result.files.size} frames from {len(films)} films in "
               f"{result.match.runs()} runs, {result.duration_s:.1f} s; {where}; "
               f"search {t['search']:.1f} s, fetch {t['fetch']:.1f} s, "
               f"encode {t['encode']:.1f} s")

"""Commands for the picture: `samplemill loops FILE` and `samplemill frame-map FILE… --out DIR`.

Both work on files directly, with no job: one fingerprint pass per file (the same code as the
`frames` stage), then the loop search or the frame map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from scheduler.commands.options import given, model_option
from worker.frames.params import FrameMapStageParams, FramesParams, LoopsParams


@click.command()
@click.argument("film", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@model_option(LoopsParams, "min_length", "--min-length", type=float)
@model_option(LoopsParams, "min_offset", "--min-offset", type=float)
@model_option(LoopsParams, "tolerance", "--tolerance", type=int)
@model_option(LoopsParams, "min_contrast", "--min-contrast", type=float)
@model_option(FramesParams, "every", "--every", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the loops along the film's timeline (PNG).")
def loops(film: Path, fmt: str, plot: Path | None, every: int | None, **knobs: Any) -> None:
    """List the stretches of FILM's picture that it shows again (loops), with their periods."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from worker.frames.align import Seq
    from worker.frames.fingerprint import fingerprint_file
    from worker.frames.loop_plot import plot_loops
    from worker.frames.loops import find_loops

    fparams = FramesParams(**given({"every": every}), threads=0)  # one file: all cores
    lparams = LoopsParams(**given(knobs))
    fp = fingerprint_file(film, fparams.fingerprint())
    f = fp.frames
    lp = lparams.loop_params()
    fps = fp.info.fps / fparams.every if fp.info.fps else 0.0
    found = find_loops(Seq.from_arrays(f.phash, f.dhash, f.stats, f.thumb_gray, f.t, fps,
                                       min_contrast=lp.min_contrast), lp)
    rows = [{k: v for k, v in lp_.to_dict().items() if k != "matched"} for lp_ in found]
    if plot is not None:
        duration = float(f.t[-1]) + (1.0 / fps if fps else 0.0)
        plot_loops(found, duration, plot, t=np.asarray(f.t), color=np.asarray(f.color),
                   title=f"{film.name}: {len(found)} loop(s)")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    cols = ["first_start", "repeat_start", "length", "similarity", "period", "copies",
            "first", "repeat", "frames"]
    if fmt == "csv":
        click.echo(",".join(cols))
        for r in rows:
            click.echo(",".join("" if r[c] is None else str(r[c]) for c in cols))
        return
    table = Table(title=f"{film.name}: {len(rows)} loop(s), {len(f)} frames")
    for c in cols:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*("" if r[c] is None else f"{r[c]:.3f}" if isinstance(r[c], float)
                        else str(r[c]) for c in cols))
    Console().print(table)


@click.command(name="frame-map")
@click.argument("films", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for frame-map.json, the sprite sheets and frame-map.png.")
@model_option(FrameMapStageParams, "rate", "--rate", type=float)
@click.option("--method", "methods", multiple=True, type=click.Choice(["tsne", "umap", "mds"]),
              help="Layouts to compute (repeat the option; default: all that apply).")
@click.option("--space", "spaces", multiple=True, type=click.Choice(["gray", "hsl"]),
              help="Feature spaces (repeat the option; default: both).")
@model_option(FrameMapStageParams, "perplexity", "--perplexity", type=float)
@model_option(FrameMapStageParams, "iterations", "--iterations", type=int)
@model_option(FrameMapStageParams, "seed", "--seed", type=int)
@model_option(FrameMapStageParams, "thumb_width", "--thumb-width", type=int)
@model_option(FrameMapStageParams, "picture", "--picture", type=str)
@model_option(FrameMapStageParams, "picture_size", "--picture-size", type=int)
def frame_map(films: tuple[Path, ...], out: Path, methods: tuple[str, ...],
              spaces: tuple[str, ...], **knobs: Any) -> None:
    """Sample FILMS at --rate frames per second and place the frames in 2-D (t-SNE, UMAP, MDS
    over grey and colour): the seed's JSON, sprite sheets and a picture in --out."""
    from worker.frames.framemap import FrameSample, compute_layouts, sample_video, write_map

    values = given(knobs)
    if methods:
        values["methods"] = list(methods)
    if spaces:
        values["spaces"] = list(spaces)
    params = FrameMapStageParams(**values)
    mp = params.map_params()
    names = [f.name for f in films]
    keys = names if len(set(names)) == len(names) else [str(f) for f in films]
    sample = FrameSample.concat([sample_video(f, k, rate=mp.rate, thumb_width=mp.thumb_width)
                                 for f, k in zip(films, keys, strict=True)])
    layouts = compute_layouts(sample, mp)
    files = write_map(out, sample, layouts, mp, name="frame-map")
    click.echo(f"{files.frames} frames from {len(films)} film(s): {', '.join(files.layouts)}")
    click.echo(f"wrote {files.json}, {len(files.sprites)} sprite sheet(s)"
               + (f", {files.picture}" if files.picture else ""))

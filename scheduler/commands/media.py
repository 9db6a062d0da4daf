"""Commands that work on single media files without a job: analyze, sort-audio, demo-media."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

SAMPLE_COLUMNS = ("start", "dur", "power", "hz", "note", "octave", "midi", "clarity")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _analysis_options(func: Any) -> Any:
    """The [analyze] knobs as command-line options."""
    options = [
        click.option("--method", type=click.Choice(["onset", "silence"]), default="onset",
                     show_default=True),
        click.option("--min-ms", type=float, default=80.0, show_default=True),
        click.option("--max-ms", type=float, default=1000.0, show_default=True),
        click.option("--delta", type=float, default=0.07, show_default=True),
        click.option("--samples", "max_samples", type=int, default=-1,
                     help="Most samples kept (-1: all)."),
        click.option("--filter", "where", default="", help="Keep samples matching EXPR."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _analyse(path: Path, method: str, min_ms: float, max_ms: float, delta: float,
             max_samples: int, where: str):  # type: ignore[no-untyped-def]
    from core.errors import SamplemillError
    from worker.analysis import AnalysisParams, analyze_file, probe_media

    probe = probe_media(path)
    if not probe.has_audio:
        raise SamplemillError(f"{path}: no audio track")
    params = AnalysisParams(method=method, min_ms=min_ms, max_ms=max_ms, delta=delta,
                            max_samples=max_samples)
    table = analyze_file(path, params)
    if where and len(table):
        from worker.tasks.analyze import keep_mask

        table = table.select(keep_mask(table.rows(), where))
    return probe, table


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_analysis_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def analyze(file: Path, fmt: str, **knobs: Any) -> None:
    """Probe FILE and cut its audio into samples with features; print them."""
    from worker.analysis import file_stats

    probe, table = _analyse(file, **knobs)
    rows = [{k: r[k] for k in SAMPLE_COLUMNS} for r in table.rows()]
    if fmt == "json":
        click.echo(json.dumps({"file": str(file), "probe": probe.to_dict(),
                               "stats": file_stats(table), "samples": rows}, default=float))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return
    console = Console()
    stats = file_stats(table)
    console.print(f"{file}: {probe.duration:.1f} s, {len(rows)} samples, "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in stats.items() if k != "n_samples"))
    out = Table(*SAMPLE_COLUMNS)
    for r in rows:
        out.add_row(*(_fmt(r[k]) for k in SAMPLE_COLUMNS))
    console.print(out)


@click.command("sort-audio")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sort", "sort", default="hz=asc", show_default=True,
              help="tsne|hz|power|clarity|dur = asc|desc, joined by &.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .wav, .flac or .mp3.")
@click.option("--overlap-ms", type=float, default=128.0, show_default=True)
@click.option("--pad-before-ms", type=float, default=500.0, show_default=True)
@click.option("--pad-after-ms", type=float, default=2000.0, show_default=True)
@click.option("--match-db", type=float, default=-16.0, show_default=True)
@click.option("--limit", type=int, default=None, help="Most samples in the output.")
@_analysis_options
def sort_audio(file: Path, sort: str, out: Path, overlap_ms: float, pad_before_ms: float,
               pad_after_ms: float, match_db: float, limit: int | None, **knobs: Any) -> None:
    """Analyse FILE, sort its samples and write them, overlapped, to --out."""
    import numpy as np

    from core.errors import ConfigError
    from worker.layout.ranking import rank
    from worker.render.sorted_audio import Clip, SortedAudioParams, render_sorted_audio

    if out.suffix.lower() not in (".wav", ".flac", ".mp3"):
        raise ConfigError(f"--out must end in .wav, .flac or .mp3, not {out.suffix or '(none)'}")
    _, table = _analyse(file, **knobs)
    if not len(table):
        raise ConfigError(f"{file}: no samples to sort")
    features = {name: np.asarray(getattr(table, name), dtype=np.float64)
                for name in ("hz", "power", "clarity", "dur", "start", "midi")}
    if "tsne" in sort:
        from worker.layout.tsne import embed

        features["tsne"] = embed(table.vector, components=1)[:, 0]
    order = rank(features, sort, len(table), what="--sort")[:limit]
    clips = [Clip(file, float(table.start[i]), float(table.dur[i])) for i in order]
    out.parent.mkdir(parents=True, exist_ok=True)
    result = render_sorted_audio(clips, out, SortedAudioParams(
        overlap_ms=overlap_ms, pad_before_ms=pad_before_ms, pad_after_ms=pad_after_ms,
        match_db=match_db))
    click.echo(f"{out}: {len(clips)} samples sorted by {sort}, {result.duration_s:.1f} s")


@click.command("demo-media")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--films", default=10, show_default=True)
@click.option("--seconds", default=20.0, show_default=True)
def demo_media(folder: Path, films: int, seconds: float) -> None:
    """Write a small offline collection of generated films into FOLDER (kept if present)."""
    from scheduler.demo import make_demo_collection

    paths = make_demo_collection(folder, films=films, seconds=seconds)
    click.echo(f"{len(paths)} films in {folder}")

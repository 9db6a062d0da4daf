"""Commands that work on single media files without a job: analyze, sort-audio, demo-media."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError, SamplemillError
from scheduler.commands.errors import Command
from scheduler.commands.options import given, model_option
from worker.analysis.params import AnalyzeParams
from worker.render.sorted_audio.params import SortedAudioParams

SAMPLE_COLUMNS = ("start", "dur", "power", "hz", "note", "octave", "midi", "clarity")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"  # e.g. the median power of a file without samples
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _analysis_options(func: Any) -> Any:
    """The [analyze] knobs as command-line options."""
    options = [
        model_option(AnalyzeParams, "method", "--method", type=click.Choice(["onset", "silence"])),
        model_option(AnalyzeParams, "min_ms", "--min-ms", type=float),
        model_option(AnalyzeParams, "max_ms", "--max-ms", type=float),
        model_option(AnalyzeParams, "delta", "--delta", type=float),
        model_option(AnalyzeParams, "max_samples", "--samples", type=int),
        model_option(AnalyzeParams, "filter", "--filter"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _analyse(path: Path, knobs: dict[str, Any]):  # type: ignore[no-untyped-def]
    from db.query import predicate_mask
    from worker.analysis import analyze_file, probe_media
    from worker.analysis.decode import counting_faults

    params = AnalyzeParams(**given(knobs))
    probe = probe_media(path)
    if not probe.has_audio:
        raise SamplemillError(f"{path}: no audio track")
    with counting_faults() as faults:
        table = analyze_file(path, params)
    if params.filter and len(table):
        table = table.select(predicate_mask(table.rows(), params.filter))
    return probe, table, faults


@click.command(cls=Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_analysis_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def analyze(file: Path, fmt: str, **knobs: Any) -> None:
    """Probe FILE and cut its audio into samples with features; print them."""
    from worker.analysis import file_stats

    probe, table, faults = _analyse(file, knobs)
    rows = [{k: r[k] for k in SAMPLE_COLUMNS} for r in table.rows()]
    if fmt == "json":
        click.echo(json.dumps({"file": str(file), "probe": probe.to_dict(),
                               "stats": file_stats(table), "decode_faults": asdict(faults),
                               "samples": rows}, default=float))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return
    console = Console()
    stats = file_stats(table)
    console.print(f"{file}: {probe.duration:.1f} s, {len(rows)} samples, "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in stats.items() if k != "n_samples"),
                  highlight=False)
    if faults.bad_packets or faults.nonfinite_samples:
        console.print(f"repaired while decoding: {faults.bad_packets} undecodable packet(s) "
                      f"skipped as silence, {faults.nonfinite_samples} NaN/inf sample(s) set to 0",
                      highlight=False)
    out = Table(*SAMPLE_COLUMNS)
    for r in rows:
        out.add_row(*(_fmt(r[k]) for k in SAMPLE_COLUMNS))
    console.print(out)


_SORTED = SortedAudioParams
FILE_SORT_KEYS = ("tsne", "hz", "power", "clarity", "dur", "start", "midi")
"""What `sort-audio` can sort one file's samples by."""


@click.command("sort-audio", cls=Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sort", "sort", default="hz=asc", show_default=True,
              help=f"{'|'.join(FILE_SORT_KEYS)} = asc|desc, joined by &.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .wav, .flac or .mp3.")
@model_option(_SORTED, "overlap_ms", "--overlap-ms", type=float)
@model_option(_SORTED, "pad_before_ms", "--pad-before-ms", type=float)
@model_option(_SORTED, "pad_after_ms", "--pad-after-ms", type=float)
@model_option(_SORTED, "match_db", "--match-db", type=float)
@model_option(_SORTED, "limit", "--limit", type=int)
@_analysis_options
def sort_audio(file: Path, sort: str, out: Path, overlap_ms: float | None,
               pad_before_ms: float | None, pad_after_ms: float | None, match_db: float | None,
               limit: int | None, **knobs: Any) -> None:
    """Analyse FILE, sort its samples and write them, overlapped, to --out."""
    import numpy as np

    from worker.layout.ranking import parse_sort, rank
    from worker.render.sorted_audio.renderer import Clip, render_sorted_audio

    if out.suffix.lower() not in (".wav", ".flac", ".mp3"):
        raise ConfigError(f"--out must end in .wav, .flac or .mp3, not {out.suffix or '(none)'}")
    parse_sort(sort, FILE_SORT_KEYS, what="--sort")  # before the analysis, not after
    params = SortedAudioParams(**given(dict(
        sort=sort, format=out.suffix.lower()[1:], overlap_ms=overlap_ms,
        pad_before_ms=pad_before_ms, pad_after_ms=pad_after_ms, match_db=match_db, limit=limit)))
    _, table, _ = _analyse(file, knobs)
    if not len(table):
        raise ConfigError(f"{file}: no samples to sort")
    features = {name: np.asarray(getattr(table, name), dtype=np.float64)
                for name in FILE_SORT_KEYS if name != "tsne"}
    if "tsne" in sort:
        from worker.layout.tsne import embed

        features["tsne"] = embed(table.vector, components=1)[:, 0]
    order = rank(features, sort, len(table), what="--sort")[:params.limit]
    clips = [Clip(file, float(table.start[i]), float(table.dur[i])) for i in order]
    out.parent.mkdir(parents=True, exist_ok=True)
    result = render_sorted_audio(clips, out, params)
    click.echo(f"{out}: {len(clips)} samples sorted by {sort}, {result.duration_s:.1f} s")


@click.command("demo-media", cls=Command)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--films", default=10, show_default=True)
@click.option("--seconds", default=20.0, show_default=True)
def demo_media(folder: Path, films: int, seconds: float) -> None:
    """Write a small offline collection of generated films into FOLDER (kept if present)."""
    from scheduler.demo import make_demo_collection

    paths = make_demo_collection(folder, films=films, seconds=seconds)
    click.echo(f"{len(paths)} films in {folder}")

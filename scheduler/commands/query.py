"""CLI: `query` the catalog, `stats` with plots, `subset` create/list/show."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError
from db.subsets import SubsetParams
from scheduler.commands.errors import Command, Group
from scheduler.commands.options import given, model_option
from scheduler.context import catalog_session

SCOPES = ("samples", "files", "items", "loops")
TABLE_ROWS = 200  # a table without --limit shows this many rows
FORMATS = ("table", "csv", "json", "parquet")


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@contextmanager
def _output(out: Path | None, binary: bool = False) -> Iterator[IO[Any]]:
    if out is None:
        yield sys.stdout
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb" if binary else "w", newline="" if not binary else None) as fh:
        yield fh


def _json_value(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _write_table(columns: list[str], rows: Iterator[tuple], fh: IO[str], cap: int | None) -> None:
    table = Table(*columns)
    more = False
    for shown, row in enumerate(rows):
        if cap is not None and shown >= cap:
            more = True
            break
        table.add_row(*[_cell(v) for v in row])
    console = Console(file=fh, width=200 if fh is not sys.stdout or not fh.isatty() else None)
    console.print(table)
    if more:
        console.print(f"(first {cap} rows; use --limit or another --format for more)")


def _write_parquet(columns: list[str], rows: Iterator[tuple], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    count = 0
    batch: list[tuple] = []

    def flush() -> None:
        nonlocal writer
        data = {c: [r[i] for r in batch] for i, c in enumerate(columns)}
        table = pa.table(data)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))

    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) >= 50_000:
            flush()
            batch = []
    if batch or writer is None:
        flush()
    assert writer is not None
    writer.close()
    return count



def _cell(value: object) -> str:
    """A table cell for people: floats to 4 significant digits (CSV/JSON keep full precision)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)

@click.command("query", cls=Command)
@click.argument("scope", type=click.Choice(SCOPES))
@click.option("--job", "job_id", type=int, help="Only this job (default: every job).")
@click.option("--where", default="", help="Filter, e.g. 'samples>500&medianPower>0.5'.")
@click.option("--sort", default="", help="Sort stages, e.g. 'power=desc=0.75&clarity=desc'.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many rows.")
@click.option("--columns", default="", help="Comma-separated names (file./item. allowed).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Default: from --out's extension (.csv .json .parquet .txt), else table.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
def query(
    scope: str,
    job_id: int | None,
    where: str,
    sort: str,
    limit: int | None,
    columns: str,
    fmt: str | None,
    out: Path | None,
) -> None:
    """List SCOPE (samples, files, items or loops) rows that pass --where, sorted and limited."""
    from db.query import run_query

    fmt = fmt or output_format(out)
    if fmt == "parquet" and out is None:
        raise ConfigError("--format parquet needs --out FILE")
    with catalog_session(existing=True) as session:
        result = run_query(session, scope, job_id=job_id, where=where, sort=sort, limit=limit,
                           columns=_split(columns) or None)  # fmt: skip
        rows = _Counted(result.rows)
        if fmt == "parquet":
            assert out is not None
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_parquet(result.columns, iter(rows), out)
        else:
            with _output(out) as fh:
                if fmt == "table":
                    _write_table(result.columns, iter(rows), fh, None if limit else TABLE_ROWS)
                elif fmt == "csv":
                    writer = csv.writer(fh)
                    writer.writerow(result.columns)
                    writer.writerows(rows)
                else:
                    fh.write("[")
                    for i, row in enumerate(rows):
                        obj = {c: _json_value(v) for c, v in zip(result.columns, row, strict=True)}
                        fh.write(("," if i else "") + "\n" + json.dumps(obj))
                    fh.write("\n]\n")
    if out is not None:
        click.echo(f"wrote {rows.count} {scope} row(s) to {out} ({fmt})", err=True)


SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".txt": "table"}


def output_format(out: Path | None) -> str:
    """The format --out's extension names (a table on the terminal)."""
    if out is None:
        return "table"
    try:
        return SUFFIXES[out.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"--out {out.name}: give --format, or end the file in {', '.join(SUFFIXES)}"
        ) from None


class _Counted:
    """Rows that count themselves as they are handed out."""

    def __init__(self, rows: Iterator[tuple]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[tuple]:
        for row in self.rows:
            self.count += 1
            yield row


def _stats_dir(out: Path | None, job_id: int | None) -> Path:
    if out is not None:
        return out
    from core.settings import get_settings

    return get_settings().data_dir / "stats" / (f"job-{job_id}" if job_id else "all")


@click.group("stats", cls=Group)
def stats() -> None:
    """Totals, histograms and scatter plots of the catalog."""


@stats.command("totals")
@click.option("--job", "job_id", type=int, help="Only this job (default: every job).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats_totals(job_id: int | None, as_json: bool) -> None:
    """Counts of items, files, files with audio / samples, hours, samples, targets per stage."""
    from dataclasses import asdict

    from db.stats import totals

    with catalog_session(existing=True) as session:
        t = totals(session, job_id)
    if as_json:
        click.echo(json.dumps(asdict(t), indent=2))
        return
    table = Table("total", "value")
    for key in ("items", "files", "files_with_audio", "files_with_samples", "samples", "subsets"):
        table.add_row(key.replace("_", " "), f"{getattr(t, key):,}")
    table.add_row("duration (h)", f"{t.duration_hours:,.2f}")
    for stage, counts in sorted(t.stages.items()):
        table.add_row(f"stage {stage}", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    Console().print(table)


def _with_session(fn: Callable[..., Any]) -> Any:
    with catalog_session(existing=True) as session:
        return fn(session)


@stats.command("hist")
@click.option("--job", "job_id", type=int, help="Only this job (default: every job).")
@click.option("--of", "scope", type=click.Choice(["files", "samples"]), default="files")
@click.option("--where", default="", help="Only rows passing this filter.")
@click.option("--props", default="", help="Comma-separated properties (default: the usual).")
@click.option("--bins", type=click.IntRange(min=1), default=50)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="PNG folder.")
def stats_hist(
    job_id: int | None, scope: str, where: str, props: str, bins: int, out: Path | None
) -> None:
    """Histograms (PNG) of files' or samples' properties, with a one-line summary each."""
    from db.stats import FILE_PROPS, SAMPLE_PROPS, histogram
    from scheduler.plots import save_histogram

    names = _split(props) or list(FILE_PROPS if scope == "files" else SAMPLE_PROPS)
    folder = _stats_dir(out, job_id)
    hists = _with_session(
        lambda s: [histogram(s, scope, p, job_id=job_id, where=where, bins=bins) for p in names]
    )
    for h in hists:
        path = save_histogram(h, folder / f"hist-{scope}-{h.prop}.png")
        peak = int(h.counts.argmax())
        left_out = f", {h.unpitched} unpitched left out" if h.unpitched else ""
        click.echo(
            f"{h.prop}: {h.values} values ({h.empty} empty{left_out}), range "
            f"{h.edges[0]:.4g}..{h.edges[-1]:.4g}, fullest bin {h.edges[peak]:.4g}.."
            f"{h.edges[peak + 1]:.4g} ({h.counts[peak]}) -> {path}"
        )


@stats.command("scatter")
@click.option("--job", "job_id", type=int, help="Only this job (default: every job).")
@click.option("--of", "scope", type=click.Choice(["files", "samples"]), default="files")
@click.option("--where", default="", help="Only rows passing this filter.")
@click.option("--props", required=True, help="Two properties: x,y.")
@click.option("--max-points", type=click.IntRange(min=1), default=200_000)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="PNG folder.")
def stats_scatter(
    job_id: int | None, scope: str, where: str, props: str, max_points: int, out: Path | None
) -> None:
    """A scatter plot (PNG) of two properties of files or samples."""
    import numpy as np

    from db.stats import scatter_points, unpitched_rows
    from scheduler.plots import save_scatter

    names = _split(props)
    if len(names) != 2:
        raise click.UsageError("--props takes exactly two properties, e.g. medianHz,medianPower")
    x, y = names
    xs, ys, unpitched = _with_session(lambda s: (
        *scatter_points(s, scope, x, y, job_id=job_id, where=where, max_points=max_points),
        unpitched_rows(s, scope, [x, y], job_id=job_id, where=where)))
    path = save_scatter(xs, ys, x, y, _stats_dir(out, job_id) / f"scatter-{scope}-{x}-{y}.png",
                        unpitched=unpitched)
    corr = float(np.corrcoef(xs, ys)[0, 1]) if len(xs) > 1 else float("nan")
    left_out = f" ({unpitched} unpitched left out)" if unpitched else ""
    click.echo(f"{len(xs)} points{left_out}, correlation {corr:.3f}, wrote {path}")


@click.group("subset", cls=Group)
def subset() -> None:
    """Create, list and show stored subsets of samples."""


@subset.command("create")
@click.option("--job", "job_id", type=int, required=True)
@model_option(SubsetParams, "name", "--name", required=True)
@model_option(SubsetParams, "filter", "--filter")
@model_option(SubsetParams, "ffilter", "--ffilter")
@model_option(SubsetParams, "fsort", "--fsort")
@model_option(SubsetParams, "flim", "--flim", type=int)
@click.option("--lim", type=int, help="Total limit (default: none).")
@click.option("--shuffle", is_flag=True, default=None, help="Shuffle the members (seeded).")
@model_option(SubsetParams, "seed", "--seed", type=int)
def subset_create(job_id: int, lim: int | None, **knobs: Any) -> None:
    """Select and store (or replace) the subset NAME of a job."""
    from db.read import get_job
    from db.subsets import create_subset

    spec = SubsetParams(lim=lim, **given(knobs))
    with catalog_session(existing=True) as session:
        get_job(session, job_id)
        s = create_subset(session, job_id, spec)
        count, digest = s.members_count, s.members_digest
    click.echo(f"subset {spec.name!r} of job {job_id}: {count} samples (digest {digest[:12]})")


@subset.command("list")
@click.option("--job", "job_id", type=int, help="Only this job.")
def subset_list(job_id: int | None) -> None:
    """Stored subsets with their sizes and specs."""
    from db.read import subsets

    table = Table("job", "name", "samples", "digest", "spec")
    with catalog_session(existing=True) as session:
        for s in subsets(session, job_id):
            spec = {k: v for k, v in s.spec.items() if k != "name" and v not in (None, "", False)}
            table.add_row(str(s.job_id), s.name, str(s.count), (s.digest or "")[:12],
                          json.dumps(spec))
    Console(width=200).print(table)


@subset.command("show")
@click.option("--job", "job_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON with every sample id.")
def subset_show(job_id: int, name: str, limit: int, as_json: bool) -> None:
    """A subset's spec, size, digest and first members."""
    from db.read import get_file, get_subset, members

    with catalog_session(existing=True) as session:
        s = get_subset(session, job_id, name)
        if as_json:
            ids = [m.sample_id for m in members(session, job_id, name)]
            data = {"job": s.job_id, "name": s.name, "spec": s.spec, "count": s.count,
                    "digest": s.digest, "sample_ids": ids}
            click.echo(json.dumps(data, indent=2))
            return
        click.echo(f"subset {s.name!r} of job {s.job_id}: {s.count} samples, digest {s.digest}")
        click.echo(f"spec: {json.dumps(s.spec)}")
        first = members(session, job_id, name, limit=limit)
        names = {m.file_id: get_file(session, m.file_id).name for m in first}
    if first:
        cols = ["#", "id", "file", "start", "dur", "power", "hz", "note", "clarity"]
        _write_table(cols, iter((m.position, m.sample_id, names[m.file_id], m.start, m.dur,
                                 m.power, m.hz, m.note, m.clarity) for m in first),
                     sys.stdout, None)

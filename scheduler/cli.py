"""The `samplemill` command: a thin layer over importable functions."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from core.queues import QUEUES
from core.settings import get_settings
from scheduler.commands.errors import Group, fail

if TYPE_CHECKING:
    from db.read import FailureRecord

console = Console(width=None if sys.stdout.isatty() else 160)


@click.group(cls=Group)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """samplemill: turn huge media collections into samples you can search, hear and see."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


def _engine():  # type: ignore[no-untyped-def]
    from scheduler.context import catalog_engine

    return catalog_engine()


@main.command()
@click.argument("job_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the job id as JSON.")
def submit(job_file: Path, as_json: bool) -> None:
    """Validate JOB_FILE (TOML), store it and print the job id."""
    from scheduler.submit import submit_file

    job_id = submit_file(_engine(), job_file)
    click.echo(json.dumps({"job": job_id}) if as_json else job_id)


@main.command()
@click.argument("job_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-workers", is_flag=True, help="Use workers started elsewhere.")
def run(job_file: Path, no_workers: bool) -> None:
    """Run JOB_FILE to the end on this machine (resumes a previous run of the same job)."""
    from scheduler.run import run_job

    outcome = run_job(job_file, get_settings(), console=console, start_workers=not no_workers)
    if outcome.interrupted:
        console.print(f"stopped; run the same command again to resume job {outcome.job_id}")
    elif outcome.failures:
        console.print(f"[red]job {outcome.job_id}: {len(outcome.failures)} target(s) failed[/red]")
        _print_failures(outcome.failures[:20])
        if len(outcome.failures) > 20:
            console.print(f"... see `samplemill failures {outcome.job_id}` for all")
    else:
        console.print(f"[green]job {outcome.job_id} done[/green]")
    sys.exit(outcome.exit_code)


@main.command()
@click.option("--once", is_flag=True, help="One reconciliation pass, then exit.")
def scheduler(once: bool) -> None:
    """Run the reconciliation loop against the configured broker (for clusters)."""
    from scheduler.loop import Scheduler, celery_sender
    from worker.app import create_app

    sched = Scheduler(_engine(), get_settings(), celery_sender(create_app()))
    if once:
        report = sched.tick()
        click.echo(json.dumps(report.__dict__))
        return
    console.print("scheduler running; Ctrl-C to stop")
    try:
        sched.run_forever()
    except KeyboardInterrupt:
        console.print("scheduler stopped")


@main.command()
@click.argument("job", type=int, required=False)
@click.option("--json", "as_json", is_flag=True)
def status(job: int | None, as_json: bool) -> None:
    """Per-stage progress of JOB (or of the newest jobs)."""
    from db import read
    from scheduler.context import catalog_session

    with catalog_session() as session:
        ids = [job] if job is not None else [j.id for j in read.list_jobs(session)]
        jobs = [read.job_progress(session, job_id) for job_id in ids]
    if as_json:
        click.echo(json.dumps([j.to_dict() for j in jobs], default=str, indent=2))
        return
    for j in jobs:
        table = Table(title=f"job {j.job_id} · {j.name} · {j.status}", title_justify="left")
        for col in ("stage", "total", "pending", "queued", "running", "done", "failed",
                    "skipped", "rate/s", "ETA"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for s in j.stages:
            eta = "-"
            if s.eta_seconds:
                eta = f"{int(s.eta_seconds // 60)}:{int(s.eta_seconds % 60):02d}"
            table.add_row(s.stage, *(str(v) for v in (s.total, s.pending, s.queued, s.running,
                          s.done, s.failed, s.skipped)), f"{s.rate:.1f}", eta)
        console.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for workers.")
def queue(as_json: bool, timeout: float) -> None:
    """Queue depths on the broker, and the workers online with what each runs."""
    from scheduler.monitor import queue_depths, workers
    from worker.app import create_app

    app = create_app()  # from the settings in force now, not those of the first import
    data = {"broker": get_settings().resolved_broker_url, "queues": queue_depths(app),
            "workers": workers(app, timeout)}
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    table = Table(title=f"queues on {data['broker']}", title_justify="left")
    table.add_column("queue")
    table.add_column("waiting", justify="right")
    for name, depth in data["queues"].items():
        table.add_row(name, str(depth))
    console.print(table)
    wt = Table(title="workers", title_justify="left")
    wt.add_column("worker")
    wt.add_column("running")
    for name, tasks in data["workers"].items():
        wt.add_row(name, ", ".join(f"{t['task']}{t['args']}" for t in tasks) or "idle")
    if not data["workers"]:
        wt.add_row("(none online)", "")
    console.print(wt)


def _print_failures(rows: list[FailureRecord]) -> None:
    table = Table(title_justify="left")
    for col in ("stage", "target", "file", "attempts", "error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.stage, r.target, r.file or "", str(r.attempts), r.error or "")
    console.print(table)


@main.command()
@click.argument("job", type=int)
@click.option("--json", "as_json", is_flag=True)
def failures(job: int, as_json: bool) -> None:
    """Each failed target of JOB with its error."""
    from dataclasses import asdict

    from db import read
    from scheduler.context import catalog_session

    with catalog_session() as session:
        rows = read.failures(session, job)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
    elif rows:
        _print_failures(rows)
    else:
        console.print(f"job {job}: no failures")


@main.command()
@click.argument("job", type=int)
def cancel(job: int) -> None:
    """Stop scheduling JOB (work already running finishes)."""
    from db import state
    from db.engine import session_scope

    with session_scope(_engine()) as session:
        cancelled = state.cancel(session, job)
    if not cancelled:
        fail(f"no active job {job}")
    console.print(f"job {job} cancelled")


@main.group()
def db() -> None:
    """Catalog schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to the configured catalog."""
    from db.engine import create_catalog_engine
    from db.migrate import current_revision, upgrade

    engine = create_catalog_engine(get_settings().resolved_catalog_url)
    upgrade(engine, revision)
    console.print(f"catalog at revision {current_revision(engine)}")


@db.command("current")
def db_current() -> None:
    """Print the catalog's schema revision."""
    from db.engine import create_catalog_engine
    from db.migrate import current_revision

    click.echo(current_revision(create_catalog_engine(get_settings().resolved_catalog_url)))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Start a Celery worker on all queues (extra arguments go to `celery worker`)."""
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q",
            ",".join(QUEUES),
            *ctx.args]
    os.execv(sys.executable, args)


def _register_optional() -> None:
    """Commands that live in their own modules (query, stats, subset, analysis, ...)."""
    import importlib

    for module, names in (
        ("scheduler.commands.query", ("query", "stats", "subset")),
        ("scheduler.commands.media", ("analyze", "sort_audio", "demo_media")),
        ("scheduler.commands.verify", ("verify",)),
        ("scheduler.commands.sound_video", ("remix", "resynth")),
        ("scheduler.commands.frames", ("loops", "frame_map")),
        ("scheduler.web.command", ("web",)),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            command = getattr(mod, name, None)
            if isinstance(command, click.Command):
                main.add_command(command)


_register_optional()

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
    pass

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
@click.option("--new", is_flag=True, help="Submit even when a job has this very spec.")
def submit(job_file: Path, as_json: bool, new: bool) -> None:
    """Validate JOB_FILE (TOML), store it and print the job id (for a scheduler to run)."""
    from scheduler.jobspec import load_spec
    from scheduler.submit import find_job, submit_spec

    engine = _engine()
    spec, text = load_spec(job_file)
    same = None if new else find_job(engine, spec)
    if same is not None:
        fail(f"job {same.id} ({same.name}, {same.status}) has this very spec; "
             f"`samplemill run {job_file}` resumes it, `--new` submits another")
    job_id = submit_spec(engine, spec, text)
    click.echo(json.dumps({"job": job_id}) if as_json else job_id)


@main.command()
@click.argument("job_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-workers", is_flag=True, help="Use workers started elsewhere.")
@click.option("--new", is_flag=True, help="Submit a new job even if one was made from this file.")
def run(job_file: Path, no_workers: bool, new: bool) -> None:
    """Run JOB_FILE to the end on this machine; running it again resumes the same job.

    Exit status: 0 done, 3 done with failures, 1 failed (nothing usable), 4 cancelled,
    2 bad input, 130 interrupted."""
    from scheduler.run import run_job
    from scheduler.summary import print_summary

    outcome = run_job(job_file, get_settings(), console=console, start_workers=not no_workers,
                      new=new)
    print_summary(outcome, console, job_file=job_file)
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
@click.option("--json", "as_json", is_flag=True)
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for workers.")
def queue(as_json: bool, timeout: float) -> None:
    """Queue depths on the broker, and the workers online with what each runs."""
    from scheduler.monitor import queue_depths, workers
    from worker.app import create_app

    app = create_app()  # from the settings in force now, not those of the first import
    data = {"broker": get_settings().resolved_broker_url, "queues": queue_depths(app),
            "workers": workers(app, timeout)}  # a SamplemillError when no broker answers
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


@main.group()
def db() -> None:
    """Catalog schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to the configured catalog."""
    from alembic.util.exc import CommandError

    from core.errors import ConfigError
    from db.engine import create_catalog_engine
    from db.migrate import current_revision, upgrade

    engine = create_catalog_engine(get_settings().resolved_catalog_url)
    try:
        upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision
        raise ConfigError(f"--revision: {exc}") from None
    console.print(f"catalog at revision {current_revision(engine)}")


@db.command("current")
def db_current() -> None:
    """Print the catalog's schema revision (never creates a catalog)."""
    from db.migrate import current_revision
    from scheduler.context import existing_catalog_engine

    click.echo(current_revision(existing_catalog_engine()))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Start a Celery worker on all queues (extra arguments go to `celery worker`)."""
    get_settings()  # bad settings are one clear line here, not a traceback inside Celery
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q",
            ",".join(QUEUES),
            *ctx.args]
    os.execv(sys.executable, args)


def _register_optional() -> None:
    """Commands that live in their own modules (query, stats, subset, analysis, ...)."""
    import importlib

    for module, names in (
        ("scheduler.commands.jobs", ("jobs", "status", "failures", "outputs", "retry",
                                     "cancel", "resume", "delete")),
        ("scheduler.commands.query", ("query", "stats", "subset")),
        ("scheduler.commands.media", ("analyze", "sort_audio", "demo_media")),
        ("scheduler.commands.verify", ("verify",)),
        ("scheduler.commands.sound_video", ("remix", "resynth")),
        ("scheduler.commands.frames", ("loops", "frame_map")),
        ("scheduler.commands.render", ("render",)),
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

"""Commands that show and steer jobs: jobs, status, failures, outputs, retry, cancel, resume,
delete. Reading commands never create a catalog; every change goes through db.state."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError, NotFoundError
from core.settings import get_settings
from core.stages import job_stages
from db import read, state
from db.models import JobStatus, utcnow
from db.render_plans import render_progress
from scheduler.commands.errors import Command, fail
from scheduler.context import catalog_session

console = Console(width=None if sys.stdout.isatty() else 160)


def age(when: datetime | None, now: datetime | None = None) -> str:
    """'42s', '5m', '3h', '2d' since `when`."""
    if when is None:
        return "-"
    seconds = max(0.0, ((now or utcnow()) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def human_size(size: int | None) -> str:
    """'532 B', '48.2 kB', '4.0 MB', '1.2 GB'."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def describe_status(status: str, failed: int) -> str:
    """A job's state for people: 'done, 4 failed' rather than a bare status word."""
    if status == JobStatus.PARTIAL:
        return f"done, {failed} failed"
    if status == JobStatus.FAILED:
        return f"failed ({failed} failed, nothing usable)" if failed else "failed"
    return status


@click.command("jobs", cls=Command)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs(limit: int, as_json: bool) -> None:
    """One line per job: id, name, state, progress, failures, age (newest first)."""
    with catalog_session(existing=True) as session:
        rows = read.job_summaries(session, limit=limit)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2, default=str))
        return
    if not rows:
        console.print("no jobs yet: `samplemill run JOB.toml` submits and runs one")
        return
    table = Table("job", "name", "state", "progress", "failed", "age", box=None)
    for r in rows:
        progress = f"{r.finished}/{r.targets}" + (
            f" ({100 * r.finished // r.targets}%)" if r.targets else "")
        table.add_row(str(r.id), r.name, describe_status(r.status, r.failed), progress,
                      str(r.failed), age(r.created_at))
    console.print(table)


@click.command("status", cls=Command)
@click.argument("job", type=int, required=False)
@click.option("--json", "as_json", is_flag=True)
def status(job: int | None, as_json: bool) -> None:
    """Per-stage progress of JOB (or of the newest jobs; `samplemill jobs` lists them shortly).

    A target whose worker stopped beating for longer than the lease counts as stale, not
    running; the scheduler re-queues it."""
    lease = get_settings().lease_seconds
    with catalog_session(existing=True) as session:
        ids = [job] if job is not None else [j.id for j in read.list_jobs(session, limit=10)]
        progress = [read.job_progress(session, job_id, lease_seconds=lease) for job_id in ids]
        renders = {job_id: render_progress(session, job_id) for job_id in ids}
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in progress], default=str, indent=2))
        return
    if not progress:
        console.print("no jobs yet: `samplemill run JOB.toml` submits and runs one")
    for p in progress:
        failed = sum(s.failed for s in p.stages)
        table = Table(title=f"job {p.job_id} · {p.name} · {describe_status(p.status, failed)}",
                      title_justify="left")
        for col in ("stage", "total", "pending", "queued", "running", "stale", "done",
                    "failed", "blocked", "skipped", "rate/s", "ETA"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for s in p.stages:
            eta = "-"
            if s.eta_seconds:
                eta = f"{int(s.eta_seconds // 60)}:{int(s.eta_seconds % 60):02d}"
            table.add_row(s.stage, *(str(v) for v in (s.total, s.pending, s.queued, s.running,
                          s.stale, s.done, s.failed, s.blocked, s.skipped)),
                          f"{s.rate:.1f}", eta)
        console.print(table)
        for r in renders[p.job_id]:  # a planned grid video's parts: chunks 7/12, ...
            console.print(f"  {r.line()}", highlight=False)


def print_failures(rows: list[read.FailureRecord], out: Console | None = None) -> None:
    """Failed targets as a table."""
    table = Table(title_justify="left")
    for col in ("stage", "target", "file", "attempts", "error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.stage, r.target, r.file or "", str(r.attempts), r.error or "")
    (out or console).print(table)


@click.command("failures", cls=Command)
@click.argument("job", type=int)
@click.option("--json", "as_json", is_flag=True)
def failures(job: int, as_json: bool) -> None:
    """Each failed target of JOB with its error."""
    with catalog_session(existing=True) as session:
        rows = read.failures(session, job)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
    elif rows:
        print_failures(rows)
        console.print(f"retry them once their cause is fixed: samplemill retry {job}")
    else:
        console.print(f"job {job}: no failures")


@click.command("outputs", cls=Command)
@click.argument("job", type=int)
@click.option("--json", "as_json", is_flag=True)
def outputs(job: int, as_json: bool) -> None:
    """What JOB made: each artifact (renders, pictures) with its path, size and duration."""
    with catalog_session(existing=True) as session:
        rows = read.artifacts(session, job)
    if as_json:
        click.echo(json.dumps([asdict(a) for a in rows], indent=2, default=str))
        return
    if not rows:
        console.print(f"job {job} has made nothing yet")
        return
    table = Table("kind", "name", "path", "size", "duration", box=None)
    for a in rows:
        size = human_size(a.size)
        duration = f"{a.duration:.1f} s" if a.duration is not None else "-"
        table.add_row(a.kind, a.name, a.path, size, duration)
    console.print(table)


def _later_job_stages(spec: dict[str, Any], after: int) -> list[str]:
    return [s.name for s in job_stages(spec) if s.scope == "job" and s.order > after]


@click.command("retry", cls=Command)
@click.argument("job", type=int)
@click.option("--stage", "stages", multiple=True,
              help="Only this stage's failed targets (repeatable; default: every stage).")
def retry(job: int, stages: tuple[str, ...]) -> None:
    """Re-queue JOB's failed targets, after their cause is fixed.

    The job becomes active again; what the retried targets feed (subsets, layouts, renders) is
    made again from the new results. Run it with `samplemill run JOB_FILE` (or a running
    scheduler picks it up)."""
    with catalog_session(existing=True) as session:
        spec = read.get_job(session, job).spec
        known = {s.name: s for s in job_stages(spec)}
        for name in stages:
            if name not in known:
                raise ConfigError(f"--stage: job {job} has no stage {name!r}; its stages: "
                                  f"{', '.join(known)}")
        failed = {f.stage for f in read.failures(session, job)}
        chosen = [n for n in (stages or known) if n in failed]
        if not chosen:
            where = f" in stage(s) {', '.join(stages)}" if stages else ""
            console.print(f"job {job} has no failed targets{where}: nothing to retry")
            return
        later = _later_job_stages(spec, min(known[n].order for n in chosen))
        count = state.retry(session, job, stages=chosen, later_job_stages=later)
    console.print(f"job {job}: {count} failed target(s) of {', '.join(chosen)} re-queued; "
                  f"the job is active again. Run it: samplemill run JOB_FILE")


@click.command("cancel", cls=Command)
@click.argument("job", type=int)
def cancel(job: int) -> None:
    """Stop scheduling JOB (work already running finishes); `samplemill resume JOB` undoes it."""
    with catalog_session(existing=True) as session:
        found = read.get_job(session, job)
        if not state.cancel(session, job):
            fail(f"job {job} is {found.status}, not active: nothing to cancel")
    console.print(f"job {job} cancelled; `samplemill resume {job}` carries on where it stopped")


@click.command("resume", cls=Command)
@click.argument("job", type=int)
def resume(job: int) -> None:
    """Make a cancelled JOB active again; run it with `samplemill run JOB_FILE`."""
    with catalog_session(existing=True) as session:
        found = read.get_job(session, job)
        if not state.resume(session, job):
            hint = f"; `samplemill retry {job}` re-queues its failures" if found.status in (
                JobStatus.FAILED, JobStatus.PARTIAL) else ""
            fail(f"job {job} is {found.status}, not cancelled: nothing to resume{hint}")
    console.print(f"job {job} is active again. Run it: samplemill run JOB_FILE")


@click.command("delete", cls=Command)
@click.argument("job", type=int)
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
def delete(job: int, yes: bool) -> None:
    """Delete JOB: its catalog rows (items, files, samples, subsets, targets, artifacts) and its
    outputs folder. Downloaded media stay (other jobs may share them)."""
    settings = get_settings()
    with catalog_session(existing=True) as session:
        found = read.get_job(session, job)
        made = read.artifacts(session, job)
    folder = settings.job_output_dir(job)
    if found.status == JobStatus.ACTIVE and not yes:
        console.print(f"job {job} is active: a running scheduler may still be working on it")
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"delete job {job}: pass --yes to delete without asking "
                              "(stdin is not a terminal)")
        click.confirm(f"delete job {job} ({found.name}, {found.status}), its catalog rows and "
                      f"{folder}?", abort=True)
    with catalog_session(existing=True) as session:
        if not state.delete_job(session, job):
            raise NotFoundError(f"no job {job}")
    removed = folder.is_dir()
    if removed:
        shutil.rmtree(folder)
    console.print(f"deleted job {job} ({found.name}): catalog rows, {len(made)} artifact "
                  f"record(s)" + (f", {folder}" if removed else ""))

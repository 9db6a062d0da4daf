"""`samplemill verify JOB [--json] [--fix]`: re-check a job's files on disk against size and md5.

Every file whose download (archive.org) or checksum (local) target is done is read back and
compared with what the catalog says it must be: the expected size and md5 from archive.org's
metadata for downloads, the size and md5 recorded by the checksum stage for local files.
`--fix` re-queues the files that fail: their download/checksum target goes back to pending,
the targets that depend on them are dropped (the scheduler re-creates them once the file is
good again) and the job becomes active, so the next `samplemill run` or scheduler pass
fetches them again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from core.stages import Stage, job_stages
from db import state
from db.engine import session_scope
from db.read import get_job, stored_files
from scheduler.commands.errors import Command
from worker.sources.checksums import md5_of

VERIFIED_STAGES = ("download", "checksum")
MISSING, SIZE, MD5 = "missing", "size mismatch", "md5 mismatch"


@dataclass(frozen=True)
class Check:
    """One file to verify: where it is and what it must be."""

    file_id: int
    target_id: int
    stage: str
    key: str
    path: str | None
    expected_size: int | None
    expected_md5: str | None


@dataclass(frozen=True)
class Problem:
    """A file that failed verification."""

    file_id: int
    target_id: int
    stage: str
    file: str
    path: str | None
    problem: str
    detail: str
    expected_size: int | None
    size: int | None
    expected_md5: str | None
    md5: str | None


@dataclass
class Report:
    """The outcome of verifying one job."""

    job: int
    checked: int
    bytes_read: int
    problems: list[Problem]
    requeued: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "job": self.job,
            "checked": self.checked,
            "bytes_read": self.bytes_read,
            "problems": [asdict(p) for p in self.problems],
            "requeued": self.requeued,
        }


def files_to_check(engine: Engine, job_id: int) -> list[Check]:
    """The job's files whose download or checksum target is done, with their expectations."""
    with session_scope(engine) as session:
        get_job(session, job_id)
        rows = stored_files(session, job_id, VERIFIED_STAGES)
    checks = []
    for r in rows:
        if r.stage == "download" and r.url is not None:
            want_size = r.expected_size if r.expected_size is not None else r.size
            want_md5 = r.expected_md5 or r.md5
        else:  # a local file: what the checksum stage recorded
            want_size, want_md5 = r.size, r.md5
        checks.append(Check(r.file_id, r.target_id, r.stage, r.key, r.path, want_size,
                            (want_md5 or "").lower() or None))
    return checks


def check_file(check: Check, advance: Callable[[int], None] = lambda n: None) -> Problem | None:
    """None when the file is on disk with the expected size and md5, else what is wrong."""

    def problem(kind: str, detail: str, size: int | None = None, md5: str | None = None):  # type: ignore[no-untyped-def]
        return Problem(
            check.file_id, check.target_id, check.stage, check.key, check.path, kind, detail,
            check.expected_size, size, check.expected_md5, md5,
        )

    if not check.path:
        return problem(MISSING, "no local path recorded")
    path = Path(check.path)
    try:
        if not path.is_file():
            return problem(MISSING, f"{path} does not exist or is not a file")
        size = path.stat().st_size
    except OSError as exc:
        return problem(MISSING, f"{path}: {exc.strerror or exc}")
    if check.expected_size is not None and size != check.expected_size:
        advance(check.expected_size)
        return problem(SIZE, f"{size} bytes, expected {check.expected_size}", size=size)
    try:
        md5 = md5_of(path, progress=advance)[0]
    except OSError as exc:
        return problem(MISSING, f"{path}: unreadable: {exc.strerror or exc}", size=size)
    if check.expected_md5 and md5 != check.expected_md5:
        return problem(MD5, f"md5 {md5}, expected {check.expected_md5}", size=size, md5=md5)
    return None


def verify_job(
    engine: Engine, job_id: int, *, progress: Progress | None = None
) -> Report:
    """Check every downloaded or checksummed file of a job; see the module docstring."""
    checks = files_to_check(engine, job_id)
    total = sum(c.expected_size or 0 for c in checks)
    task = progress.add_task("verify", total=total or None, files=0) if progress else None
    read = 0
    problems: list[Problem] = []

    def advance(n: int) -> None:
        nonlocal read
        read += n
        if progress is not None and task is not None:
            progress.advance(task, n)

    for done, check in enumerate(checks, 1):
        found = check_file(check, advance)
        if found is not None:
            problems.append(found)
        if progress is not None and task is not None:
            progress.update(task, files=done)
    return Report(job_id, len(checks), read, problems)


def _downstream(stages: Sequence[Stage], after: int) -> tuple[list[str], list[str]]:
    """(file stages, job stages) of a job that come after pipeline position `after`."""
    files = [s.name for s in stages if s.scope == "file" and s.order > after]
    jobs = [s.name for s in stages if s.scope == "job" and s.order > after]
    return files, jobs


def requeue(engine: Engine, job_id: int, problems: Sequence[Problem]) -> int:
    """Put the problem files' download/checksum targets back to pending, drop what depends on
    them, and make the job active again; returns how many files were re-queued."""
    if not problems:
        return 0
    with session_scope(engine) as session:
        stages = job_stages(get_job(session, job_id).spec)
        order = {s.name: s.order for s in stages}
        file_ids = sorted({p.file_id for p in problems})
        file_stages, job_stages_after = _downstream(
            stages, min(order.get(p.stage, 0) for p in problems)
        )
        state.restart_targets(session, sorted({p.target_id for p in problems}))
        state.drop_targets(session, job_id, file_ids=file_ids, file_stages=file_stages,
                           job_stages=job_stages_after)
        state.reactivate(session, job_id)
    return len(file_ids)


def _print_problems(console: Console, report: Report) -> None:
    """The problems as a table."""
    title = f"job {report.job}: {len(report.problems)} problem(s)"
    table = Table(title=title, title_justify="left")
    for col in ("file", "stage", "problem", "detail", "path"):
        table.add_column(col, overflow="fold")
    for p in report.problems:
        table.add_row(p.file, p.stage, p.problem, p.detail, p.path or "")
    console.print(table)


@click.command("verify", cls=Command)
@click.argument("job", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--fix", is_flag=True, help="Re-queue the files with problems for the next run.")
def verify(job: int, as_json: bool, fix: bool) -> None:
    """Re-check JOB's downloaded/checksummed files on disk (size, md5); exit 1 on problems."""
    from scheduler.context import existing_catalog_engine

    engine = existing_catalog_engine()
    out = Console(width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description} {task.fields[files]} files"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        report = verify_job(engine, job, progress=progress)
    if fix:
        report.requeued = requeue(engine, job, report.problems)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        mb = report.bytes_read / 1e6
        out.print(f"job {job}: checked {report.checked} file(s), read {mb:.1f} MB", highlight=False)
        if report.problems:
            _print_problems(out, report)
        else:
            out.print("[green]every file matches its size and md5[/green]")
        if report.requeued:
            out.print(
                f"re-queued {report.requeued} file(s) and their downstream targets; "
                "run the job again (`samplemill run JOB_FILE`) to fetch or re-checksum them"
            )
    sys.exit(1 if report.problems else 0)

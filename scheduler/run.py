"""`samplemill run`: submit (or resume) a job, start local workers and the scheduler loop,
show progress per stage, and stop cleanly when the job is done or on Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from sqlalchemy import Engine

from core.errors import SamplemillError
from core.settings import EMBEDDED, Settings
from db import state
from db.engine import get_engine, session_scope
from db.models import JobStatus
from db.read import FailureRecord, JobProgress
from db.read import failures as read_failures
from db.read import job_progress as read_progress
from scheduler.embedded import EmbeddedBroker, LocalWorkers
from scheduler.jobspec import load_spec
from scheduler.loop import Scheduler, celery_sender
from scheduler.submit import find_job, submit_spec


class RateColumn(ProgressColumn):
    """Completions per second over the recent window, and the ETA, from the catalog."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate", 0.0)
        eta = task.fields.get("eta")
        failed = task.fields.get("failed", 0)
        eta_text = f"ETA {int(eta // 60)}:{int(eta % 60):02d}" if eta else "ETA -:--"
        extra = f"  [red]{failed} failed[/red]" if failed else ""
        return Text.from_markup(f"{rate:6.1f}/s  {eta_text}{extra}")


@dataclass
class RunOutcome:
    """How a run ended."""

    job_id: int
    status: str
    failures: list[FailureRecord]
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if self.status == JobStatus.DONE else 1


class ProgressView:
    """A bar per stage on a terminal; a status line every few seconds elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.last_line = 0.0

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.console.is_terminal:
            self.progress.stop()

    def update(self, job: JobProgress, *, force: bool = False) -> None:
        for s in job.stages:
            fields = {"rate": s.rate, "eta": s.eta_seconds, "failed": s.failed}
            if s.stage not in self.tasks:
                self.tasks[s.stage] = self.progress.add_task(s.stage, total=s.total or None)
            self.progress.update(
                self.tasks[s.stage], total=max(s.total, 1), completed=s.finished, **fields
            )
        if not self.console.is_terminal and (force or time.monotonic() - self.last_line > 5):
            self.last_line = time.monotonic()
            parts = [f"{s.stage} {s.finished}/{s.total} ({s.rate:.1f}/s)" for s in job.stages]
            self.console.print(f"job {job.job_id}: " + ", ".join(parts), highlight=False)


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """Ctrl-C (and SIGTERM) set a flag the loop checks, so shutdown is orderly."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def prepare_job(engine: Engine, job_file: Path, console: Console) -> int:
    """Submit the job, or resume the unfinished job with the same spec."""
    spec, text = load_spec(job_file)
    existing = find_job(engine, spec)
    if existing is not None:
        console.print(f"resuming job {existing.id} ({existing.name}, {existing.status})")
        return existing.id
    job_id = submit_spec(engine, spec, text)
    console.print(f"submitted job {job_id} ({spec['name']})")
    return job_id


def run_job(
    job_file: Path,
    settings: Settings,
    *,
    console: Console | None = None,
    start_workers: bool = True,
) -> RunOutcome:
    """Run a job to completion on this machine; see the module docstring."""
    console = console or Console()
    engine = get_engine(settings.resolved_catalog_url)
    job_id = prepare_job(engine, job_file, console)
    if _progress(engine, job_id).status != JobStatus.ACTIVE:
        return _outcome(engine, job_id, interrupted=False)
    embedded = settings.broker_url == EMBEDDED
    broker = EmbeddedBroker(settings.broker_socket, settings.data_dir / "logs" / "broker.log")
    workers: LocalWorkers | None = None
    from worker.app import create_app

    with _sigint_flag() as stop:
        try:
            if embedded:
                if broker.already_running():
                    raise SamplemillError(
                        f"another samplemill run owns the embedded broker at {broker.socket_path}"
                    )
                broker.start()
                with session_scope(engine) as session:
                    state.reset_in_flight(session, job_id)
            app = create_app()
            if start_workers:
                workers = LocalWorkers(
                    settings,
                    broker_url=settings.resolved_broker_url,
                    log_path=settings.data_dir / "logs" / "worker.log",
                )
                workers.start()
            scheduler = Scheduler(engine, settings, celery_sender(app))
            with ProgressView(console) as view:

                def on_tick(_: object) -> None:
                    view.update(_progress(engine, job_id))
                    if workers is not None and not workers.alive():
                        raise SamplemillError(
                            f"local workers exited; see {workers.log_path}"
                        )

                scheduler.run_forever(
                    job_ids=[job_id], until_done=True, stop=stop.is_set, on_tick=on_tick
                )
                view.update(_progress(engine, job_id), force=True)
        finally:
            if workers is not None:
                workers.stop()
            if embedded:
                broker.stop()
    interrupted = stop.is_set() and _progress(engine, job_id).status == JobStatus.ACTIVE
    return _outcome(engine, job_id, interrupted=interrupted)


def _progress(engine: Engine, job_id: int) -> JobProgress:
    with session_scope(engine) as session:
        return read_progress(session, job_id)


def _outcome(engine: Engine, job_id: int, *, interrupted: bool) -> RunOutcome:
    with session_scope(engine) as session:
        status = read_progress(session, job_id).status
        return RunOutcome(job_id, status, read_failures(session, job_id), interrupted)

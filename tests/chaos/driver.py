"""Fires a seeded fault plan (tests/chaos/plan.py) at a running chaos job, from a thread that
watches the catalog: SIGKILLs worker children mid-run, kills and restarts the scheduler,
restarts Redis and crashes PostgreSQL, fills the data disk, and makes the source server stall,
trickle and reset. Every fault is recorded with its catalog time and the targets it hit, so the
verification can find it in `task_runs` afterwards."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
import redis
from sqlalchemy import select

from db.models import Target, TaskRun, utcnow
from tests.chaos.harness import Live
from tests.chaos.plan import FILE_STAGES, Fault, Plan, group_of

POLL = 0.05


@dataclass
class Snapshot:
    """The job's targets at one moment."""

    running: list[tuple[int, str, str, str | None]]  # (id, stage, key, worker)
    queued: list[int]
    done: dict[str, int]  # plan group -> targets done
    total: dict[str, int]


@dataclass
class _KillState:
    """The kill-child faults of one group: runs seen so far and the next kill's aim."""

    seen: list[tuple[int, str]] = field(default_factory=list)  # (target id, worker) in order
    seen_at: dict[tuple[int, str], float] = field(default_factory=dict)
    missed: int = 0


class Driver:
    """Runs `plan` against `live` in a daemon thread until stop()."""

    def __init__(self, live: Live, plan: Plan, films: int) -> None:
        self.live = live
        self.plan = plan
        self.films = films
        self.rng = random.Random(plan.seed + 1)
        self.notes: list[str] = []
        self.result = None
        self._stop = threading.Event()
        self._sched_paused = threading.Event()
        self._timers: list[threading.Thread] = []
        self._kills: dict[str, _KillState] = {}
        self._killed: set[tuple[int, str]] = set()
        self._filler = live.data_dir / "chaos-filler"
        self._thread = threading.Thread(target=self._run, name="chaos-driver", daemon=True)
        self._thread.start()

    # -- the harness's interface ----------------------------------------------------------
    def owns_scheduler(self) -> bool:
        """True while the driver holds the scheduler down (the supervisor must not restart)."""
        return self._sched_paused.is_set()

    def stop(self) -> None:
        """Stop firing; undo what is still in force (full disk, proxy faults, outages)."""
        self._stop.set()
        self._thread.join(30)
        for t in self._timers:
            t.join(30)
        self._filler.unlink(missing_ok=True)
        self.live.proxy.clear()

    # -- reading the job ------------------------------------------------------------------
    def snapshot(self) -> Snapshot | None:
        """The job's targets now, or None while the catalog is unreachable."""
        try:
            with self.live.engine.connect() as conn:
                rows = conn.execute(select(Target.id, Target.stage, Target.key, Target.status,
                                           Target.worker)
                                    .where(Target.job_id == self.live.job_id)).all()
        except Exception:
            return None
        snap = Snapshot([], [], {}, {})
        for tid, stage, key, status, worker in rows:
            group = group_of(stage)
            snap.total[group] = snap.total.get(group, 0) + 1
            if status == "done":
                snap.done[group] = snap.done.get(group, 0) + 1
            elif status == "running":
                snap.running.append((tid, stage, key, worker))
            elif status == "queued":
                snap.queued.append(tid)
        return snap

    def share_done(self, snap: Snapshot, group: str) -> float:
        """Share of a group's targets done (file stages: of the films)."""
        total = self.films if group in FILE_STAGES else snap.total.get(group, 0)
        return snap.done.get(group, 0) / total if total else 0.0

    def running_in(self, snap: Snapshot, group: str) -> list[tuple[int, str, str, str | None]]:
        """The running targets of a group."""
        return [r for r in snap.running if group_of(r[1]) == group]

    def worker_children(self) -> set[int]:
        """Pids of our worker group's processes (never anything else is killed)."""
        proc = self.live.workers.process
        if proc is None:
            return set()
        try:
            return {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.Error:
            return set()

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        pending = [f for f in self.plan.faults if not f.kind.startswith("source-")]
        while not self._stop.is_set() and pending:
            snap = self.snapshot()
            if snap is not None:
                for fault in list(pending):
                    try:
                        if self._try(fault, snap):
                            pending.remove(fault)
                    except Exception as exc:  # a fault that could not be fired is noted
                        self.notes.append(f"{fault.label}: {type(exc).__name__}: {exc}")
                        pending.remove(fault)
            self._stop.wait(POLL)

    def _try(self, fault: Fault, snap: Snapshot) -> bool:
        """Fire `fault` if its moment has come; True when it is finished with."""
        kind, group = fault.kind, fault.stage
        if kind == "kill-child":
            return self._kill_child(fault, snap)
        if kind == "kill-scheduler":
            if (group == "render" and not self.running_in(snap, "render")) or (
                    self.share_done(snap, group) < fault.share):
                return False
            self._after(fault.delay, lambda: self._kill_scheduler(fault))
            return True
        if kind == "restart-redis":
            if self.share_done(snap, group) < fault.share or not self._waiting_messages():
                return False
            self._restart_redis(fault, snap)
            return True
        if kind == "restart-postgres":
            if self.share_done(snap, group) < fault.share or not self.running_in(snap, group):
                return False
            self._restart_postgres(fault, snap)
            return True
        if kind == "disk-full":
            return self._disk_full(fault, snap)
        if kind.startswith("proxy-"):
            if self.share_done(snap, group) < fault.share or not self.running_in(snap, group):
                return False
            self._proxy(fault)
            return True
        return True

    def _after(self, seconds: float, action) -> None:  # type: ignore[no-untyped-def]
        """Run `action` after `seconds` in its own thread (joined at stop)."""
        def go() -> None:
            time.sleep(seconds)
            try:
                action()
            except Exception as exc:
                self.notes.append(f"{type(exc).__name__}: {exc}")
        t = threading.Thread(target=go, daemon=True)
        self._timers.append(t)
        t.start()

    # -- the faults -----------------------------------------------------------------------
    def _kill_child(self, fault: Fault, snap: Snapshot) -> bool:
        group = fault.stage
        state = self._kills.setdefault(group, _KillState())
        now = time.monotonic()
        for tid, _stage, _key, worker in self.running_in(snap, group):
            if worker and (tid, worker) not in state.seen_at:
                state.seen.append((tid, worker))
                state.seen_at[(tid, worker)] = now
        if self._finished(snap, group) and group != "render":
            # the stage ran out before its kills landed (a subset takes 10 ms): aim at the
            # render stages instead, which run last and longest
            fault.detail = f"moved from {group} (its runs ended first); "
            fault.stage, fault.ordinal = "render", 0
            return False
        while fault.ordinal < len(state.seen) and state.seen[fault.ordinal] in self._killed:
            fault.ordinal += 1
        if len(state.seen) <= fault.ordinal:
            return False
        tid, worker = state.seen[fault.ordinal]
        if now - state.seen_at[(tid, worker)] < fault.delay:
            return False
        pid = int(worker.rsplit(":", 1)[1])
        look = self._open_runs(tid, worker)
        if look is None or pid not in self.worker_children():
            fault.ordinal += 1  # that run ended first: aim at the next one
            state.missed += 1
            return False
        looked_at, open_runs = look
        fault.at = utcnow()
        os.kill(pid, signal.SIGKILL)
        self._killed.add((tid, worker))
        fault.injected, fault.pid, fault.target_ids = True, pid, [tid]
        fault.looked_at, fault.open_runs = looked_at, open_runs
        fault.detail += (f"target {tid} ({_stage_of(snap, tid)}) pid {pid}, "
                         f"{len(open_runs)} open run(s)")
        return True

    def _finished(self, snap: Snapshot, group: str) -> bool:
        """Whether every target of a group is done (and it has some)."""
        total = self.films if group in FILE_STAGES else snap.total.get(group, 0)
        return total > 0 and snap.done.get(group, 0) >= total

    def _open_runs(self, tid: int, worker: str) -> tuple[datetime, list[int]] | None:
        """A fresh look just before a kill (a snapshot is ~50 ms old): whether `worker` still
        runs target `tid` — the target `running` under it *and* the run its token names still
        open. A target can stay `running` under a process that left it: a run a catalog outage
        cut is closed `interrupted` by its worker (db/fault_log.py) while the target waits for
        its lease to run out, and that worker meanwhile runs other targets or none. Returns
        the look's catalog time and the ids of every run `worker` has open (a batch's claimed
        targets included), or None when it no longer runs `tid`."""
        try:
            with self.live.engine.connect() as conn:
                looked_at = utcnow()
                row = conn.execute(select(Target.status, Target.worker, Target.run_token)
                                   .where(Target.id == tid)).first()
                if row is None or row[0] != "running" or row[1] != worker:
                    return None
                runs = conn.execute(select(TaskRun.id, TaskRun.run_token).where(
                    TaskRun.job_id == self.live.job_id, TaskRun.worker == worker,
                    TaskRun.status == "running")).all()
        except Exception:
            return None
        if not any(token == row[2] for _, token in runs):
            return None
        return looked_at, sorted(run_id for run_id, _ in runs)

    def _kill_scheduler(self, fault: Fault) -> None:
        sched = self.live.scheduler
        self._sched_paused.set()
        try:
            fault.at = utcnow()
            sched.kill()
            fault.injected = True
            time.sleep(fault.hold)
            sched.start()
            fault.until = utcnow()
            fault.detail = f"down {fault.hold:.1f}s"
        finally:
            self._sched_paused.clear()

    def _waiting_messages(self) -> list[int]:
        """Target ids of the task messages waiting in the broker's queue lists now."""
        from scheduler.broker_watch import PRIORITY_SEP, PRIORITY_STEPS, target_id_of

        ids: list[int] = []
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis(port=self.live.services.redis.port, db=0)
            for q in ("io", "cpu", "render"):
                for name in [q, *(f"{q}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS if p)]:
                    for raw in client.lrange(name, 0, -1):
                        if (tid := target_id_of(raw)) is not None:
                            ids.append(tid)
        return ids

    def _restart_redis(self, fault: Fault, snap: Snapshot) -> None:
        server = self.live.services.redis
        waiting = self._waiting_messages()  # lost with the restart: the broker keeps nothing
        fault.at = utcnow()
        server.stop()
        fault.injected = True
        time.sleep(fault.hold)
        server.start()
        fault.until = utcnow()
        fault.target_ids = waiting
        fault.detail = f"{len(waiting)} task messages waiting in the queues were lost"

    def _restart_postgres(self, fault: Fault, snap: Snapshot) -> None:
        # a fresh look just before the crash: the runs it will cut (a snapshot is ~50 ms old)
        fresh = self.snapshot() or snap
        fault.running = [(r[0], str(r[3])) for r in fresh.running if r[3]]
        fault.target_ids = [r[0] for r in fresh.running]
        fault.at = utcnow()
        self.live.services.pg.crash()
        fault.injected = True
        time.sleep(fault.hold)
        self.live.services.pg.start()
        fault.until = utcnow()
        fault.detail = (f"crashed (immediate stop) with {len(fault.target_ids)} targets "
                        f"running, down {fault.hold:.1f}s")

    def _disk_full(self, fault: Fault, snap: Snapshot) -> bool:
        if not self.live.mounted:
            fault.detail = "not injected: the data directory could not be mounted as a tmpfs"
            return True
        if fault.stage == "download":
            if self.share_done(snap, "download") < fault.share or not self.running_in(
                    snap, "download"):
                return False
            if self.films - snap.done.get("download", 0) < 4:
                return False  # too late: too few downloads left to meet the full disk
            leave = 256 * 1024  # below the 1 MB download reserve: every download must wait
        else:
            renders = [r for r in self.running_in(snap, "render") if r[1] != "vsamples"]
            if not renders:
                return False
            leave = 0
            fault.target_ids = [r[0] for r in renders]
        if not self._fill(leave):  # reported as not injected, never claimed
            self._filler.unlink(missing_ok=True)
            fault.detail = (f"not injected: could not fill the disk ({_free(self.live.data_dir)}"
                            " bytes still free)")
            return True
        fault.at = utcnow()  # full from here on (filling 380 MB of tmpfs takes seconds)
        fault.injected = True
        fault.detail = f"{_free(self.live.data_dir) // 1024} KiB left during {fault.stage}"
        # held at least `hold` s for downloads (at most 20 s) and until a run of the stage
        # meets it: a full disk that no run saw would be a fault that touched nothing
        minimum = fault.hold if fault.stage == "download" else 0.0
        self._after(0.0, lambda: self._hold_until_met(fault, minimum, max(fault.hold, 20.0)))
        return True

    def _hold_until_met(self, fault: Fault, minimum: float, most: float) -> None:
        """Keep the disk full for `minimum` seconds and then until a run of the fault's stage
        group failed or was deferred on it, at most `most` seconds."""
        started = time.monotonic()
        deadline = started + most
        while time.monotonic() < deadline and not self._stop.is_set():
            if time.monotonic() - started < minimum:
                time.sleep(0.3)
                continue
            try:
                with self.live.engine.connect() as conn:
                    errors = conn.execute(select(TaskRun.stage, TaskRun.error).where(
                        TaskRun.job_id == self.live.job_id, TaskRun.finished_at >= fault.at,
                        TaskRun.status != "done")).all()  # runs started before the fill too
            except Exception:
                errors = []
            if any(group_of(st) == fault.stage and err and ("space" in err or "Errno 28" in err)
                   for st, err in errors):
                break
            time.sleep(0.3)
        self._free_disk(fault)

    def _fill(self, leave: int) -> bool:
        """Take all the data disk's free space but `leave` bytes; False when it could not.

        On tmpfs a fallocate that meets ENOSPC allocates nothing at all, and the free space
        shrinks between the look and the fallocate whenever a download writes meanwhile: so the
        space is taken in steps, each sized from a fresh look, the last ones with some slack."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for attempt in range(40):
                want = _free(self.live.data_dir) - leave
                if want <= 0:
                    break
                slack = 0 if attempt % 2 == 0 else min(want // 2, 8 << 20)
                with contextlib.suppress(OSError):
                    os.posix_fallocate(fd, os.fstat(fd).st_size, want - slack)
            if leave == 0:  # whatever fallocate left (rounding): write it full
                with contextlib.suppress(OSError):
                    while os.write(fd, b"\0" * 65536) > 0:
                        pass
        finally:
            os.close(fd)
        return _free(self.live.data_dir) <= leave + (64 << 10)

    def _free_disk(self, fault: Fault) -> None:
        self._filler.unlink(missing_ok=True)
        fault.until = utcnow()

    def _proxy(self, fault: Fault) -> None:
        proxy = self.live.proxy
        fault.at = utcnow()
        fault.injected = True
        if fault.kind == "proxy-stall":
            proxy.stall(fault.hold)
            fault.detail = f"every connection held {fault.hold:.1f}s"
        elif fault.kind == "proxy-trickle":
            proxy.bandwidth = 2_000
            fault.detail = f"2 kB/s per connection for {fault.hold:.1f}s"

            def unthrottle() -> None:
                proxy.bandwidth = None
                fault.until = utcnow()
            self._after(fault.hold, unthrottle)
        else:
            open_before = proxy.stats.open
            proxy.reset_all()
            fault.detail = f"TCP reset of {open_before} open connections"
        if fault.kind == "proxy-stall":
            def healed() -> None:
                fault.until = utcnow()
            self._after(fault.hold, healed)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _stage_of(snap: Snapshot, tid: int) -> str:
    return next((r[1] for r in snap.running if r[0] == tid), "?")

"""The chaos suite's judgement of a SIGKILLed worker child (tests/chaos/driver.py `_open_runs`,
tests/chaos/verify.py `_kill_evidence`), on a real SQLite catalog and hand-made run records;
fast, so part of the default suite.

The clean-clone rehearsal of 2026-11-30 11:00 failed once on `kill-child@analyze: no lost
run`. The driver aimed at a target the catalog still showed `running` under a live worker
whose run had already ended: after a PostgreSQL crash cuts a run, its worker closes the run
`interrupted` (db/fault_log.py) but leaves the target `running` until its lease runs out, and
goes on with other targets (or none). The SIGKILL then hit whatever the process was doing, and
the verification, looking only at the aimed target's runs, found no lost run. Now the driver
fires only while the aimed target's own run is open, and the kill is judged by every run the
process had in hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from db import fault_log, state
from db.engine import session_scope
from db.models import Target, TargetStatus, utcnow
from scheduler.submit import submit_file
from tests.chaos.driver import Driver
from tests.chaos.harness import RunResult
from tests.chaos.plan import Fault
from tests.chaos.verify import find_evidence
from tests.pipeline_harness import catalog, configure, make_folder, write_job


def _driver(engine: Any, job_id: int) -> Driver:
    driver = object.__new__(Driver)  # its catalog look only: no thread, no live run
    driver.live = SimpleNamespace(engine=engine, job_id=job_id)  # type: ignore[assignment]
    return driver


def test_the_driver_aims_only_at_a_run_still_open(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    engine = catalog(settings)
    job_id = submit_file(engine, write_job(tmp_path, make_folder(tmp_path, 1)))
    with session_scope(engine) as session:
        ids = []
        for i in range(3):
            t = Target(job_id=job_id, stage="s-kill", key=f"k{i}", status=TargetStatus.PENDING)
            session.add(t)
            session.flush()
            ids.append(t.id)
    cut, batch_a, batch_b = ids
    me = "host:4242"
    since = utcnow() - timedelta(seconds=1)
    with session_scope(engine) as session:
        state.claim_many(session, [cut], worker=me, token_prefix="t1", lease_seconds=30)
        state.claim_many(session, [batch_a, batch_b], worker=me, token_prefix="t2",
                         lease_seconds=30)
    driver = _driver(engine, job_id)
    look = driver._open_runs(cut, me)
    assert look is not None and len(look[1]) == 3  # every run the process holds open

    # a catalog outage cut the first run: its worker closed it interrupted, the target stays
    # running under that worker until the lease runs out (db/fault_log.py leaves targets alone)
    with session_scope(engine) as session:
        assert fault_log.record_cut(session, [cut], worker=me, since=since, error="cut") == 1
        assert session.get(Target, cut).status == TargetStatus.RUNNING  # type: ignore[union-attr]
    assert driver._open_runs(cut, me) is None  # not aimed at: that run is over
    look = driver._open_runs(batch_b, me)  # a batch's second target, claimed with the first
    assert look is not None and len(look[1]) == 2
    assert driver._open_runs(batch_b, "host:9999") is None  # another process's target


def _run(rid: int, target: int, status: str, started: datetime, finished: datetime | None,
         pid: int = 4242, error: str | None = None) -> dict[str, Any]:
    return dict(id=rid, target_id=target, stage="analyze", key=f"k{target}", attempt=1,
                worker=f"host:{pid}", status=status, started_at=started, finished_at=finished,
                error=error)


def _judge(runs: list[dict[str, Any]], *, open_runs: list[int], at: datetime,
           log: str = "") -> Fault:
    fault = Fault("kill-child", "analyze", injected=True, at=at,
                  looked_at=at - timedelta(milliseconds=20), pid=4242, target_ids=[7],
                  open_runs=open_runs)
    result = RunResult(job_status="done", seconds=1.0, samples={}, artifacts={},
                       artifact_sizes={}, tree=set(), leftovers=[], media={}, runs=runs,
                       targets={"done": 1}, worker_log=log)
    find_evidence(fault, result, {})
    return fault


def test_a_kill_is_judged_by_every_run_the_process_had_in_hand() -> None:
    at = datetime(2026, 11, 30, 12, 0, 0)
    s = timedelta(seconds=1)
    # the aimed target's run lost after the kill: touched and shown
    f = _judge([_run(1, 7, "lost", at - s, at + 5 * s, error="worker host:4242 lost"),
                _run(2, 7, "done", at + 6 * s, at + 7 * s, pid=5151)], open_runs=[1], at=at)
    assert (f.touched, f.visible) == (True, True), f.evidence

    # the rehearsal's case under the old aim: the aimed target's run had ended interrupted
    # before the look, and the process was running another target, which is lost: shown
    f = _judge([_run(1, 7, "interrupted", at - 9 * s, at - 3 * s, error="cut"),
                _run(2, 8, "lost", at - s, at + 5 * s)], open_runs=[2], at=at)
    assert (f.touched, f.visible) == (True, True), f.evidence
    assert "target 8" in f.evidence

    # the kill landed just after the process committed its last run: touched nothing, said so
    f = _judge([_run(1, 7, "done", at - s, at - timedelta(milliseconds=5))],
               open_runs=[1], at=at)
    assert (f.injected, f.touched, f.visible) == (True, False, False)
    assert f.evidence.startswith("touched nothing")

    # a dead process's run nobody closed: the kill touched work the product did not record
    f = _judge([_run(1, 7, "running", at - s, None)], open_runs=[1], at=at,
               log="[x: ERROR/MainProcess] Process 'ForkPoolWorker-3' pid:4242 exited with "
                   "'signal 9 (SIGKILL)'\n[y: INFO/ForkPoolWorker-3] Task t[1] received")
    assert (f.touched, f.visible) == (True, False)
    assert "NOT RECORDED" in f.evidence
    assert "ForkPoolWorker-3" in f.diagnosis and "run     1 target     7" in f.diagnosis

    # a run open at the look that a catalog crash erased: touched, not shown
    f = _judge([], open_runs=[1], at=at)
    assert (f.touched, f.visible) == (True, False)
    assert "ROWS ERASED" in f.evidence

    # seed 23 at 12:25: the process's run had been cut by the PostgreSQL crash, the process
    # was waiting for the catalog to record it when killed, and the task's retry closed it
    # interrupted after the kill: nothing the outage had not already taken
    f = _judge([_run(1, 7, "interrupted", at - 4 * s, at + s,
                     error="catalog connection cut (task x): OperationalError: refused")],
               open_runs=[1], at=at)
    assert (f.touched, f.visible) == (False, False)
    assert "cut by the catalog outage" in f.evidence

    # a run closed done after the kill: a dead process cannot have closed it
    f = _judge([_run(1, 7, "done", at - s, at + 2 * s)], open_runs=[1], at=at)
    assert (f.touched, f.visible) == (True, False)
    assert "CLOSED AFTER THE KILL" in f.evidence and f.diagnosis

    # a lost run of the same pid closed before the kill (its lease ran out while it lived)
    # is not the kill's evidence
    f = _judge([_run(1, 7, "lost", at - 9 * s, at - 5 * s),
                _run(2, 8, "done", at - 2 * s, at - timedelta(milliseconds=10))],
               open_runs=[2], at=at)
    assert (f.touched, f.visible) == (False, False), f.evidence


def test_a_cut_task_whose_process_was_killed_before_naming_it() -> None:
    """Seen in the seed-17 run of 11:51: two analyze tasks raised on the PostgreSQL crash and
    their processes were SIGKILLed (kill-child faults) while waiting for the catalog to record
    the cut attempts; the attempts' rows ended lost without the task ids. That lost row of the
    killed pid is the attempt's record; a raised task with no such row is still unrecorded."""
    at = datetime(2026, 11, 30, 11, 57, 0)
    s = timedelta(seconds=1)
    raised = ("[2026-11-30 11:57:00,119: ERROR/ForkPoolWorker-7] Task samplemill.analyze"
              "[6886b41a-08c2-4e42-8b9d-1711821e3572] raised unexpected: OperationalError('"
              "connection failed')\n")
    killed = ("[2026-11-30 11:57:04,103: ERROR/MainProcess] Process 'ForkPoolWorker-7' "
              "pid:31398 exited with 'signal 9 (SIGKILL)'\n")
    runs = [_run(291, 239, "lost", at - s, at + 6 * s, pid=31398,
                 error=fault_log.NO_HEARTBEAT)]

    def judge(log: str) -> Fault:
        fault = Fault("restart-postgres", "analyze", injected=True, at=at, until=at + 2 * s,
                      running=[(239, "host:31398")], target_ids=[239])
        find_evidence(fault, RunResult(
            job_status="done", seconds=1.0, samples={}, artifacts={}, artifact_sizes={},
            tree=set(), leftovers=[], media={}, runs=runs, targets={"done": 1},
            worker_log=log), {})
        return fault

    f = judge(raised + killed)
    assert (f.touched, f.visible) == (True, True), f.evidence
    assert "killed before naming it" in f.evidence
    f = judge(raised)  # the process lived: it had to name the task, and did not
    assert (f.touched, f.visible) == (True, False)
    assert f.evidence.startswith("NOT RECORDED") and "6886b41a" in f.diagnosis


def test_a_task_retried_on_the_crash_must_be_named_by_its_cut_attempt() -> None:
    """Since 81f7634 a task whose claim or commit meets the outage is retried, not raised:
    Celery's retry line is then the independent record that must be named in task_runs."""
    at = datetime(2026, 11, 30, 12, 30, 0)
    s = timedelta(seconds=1)
    task = "1b9e5d0c-4a53-4bb0-9d0e-2f6a3c1d7e88"
    log = (f"[2026-11-30 12:30:00,500: INFO/ForkPoolWorker-4] Task samplemill.analyze[{task}] "
           "retry: Retry in 0.73s: OperationalError('(psycopg.OperationalError) connection "
           "failed')\n")

    def judge(error: str) -> Fault:
        fault = Fault("restart-postgres", "analyze", injected=True, at=at, until=at + 2 * s,
                      running=[(5, "host:777")], target_ids=[5])
        runs = [_run(40, 5, "interrupted", at - s, at + 3 * s, pid=777, error=error),
                _run(41, 5, "done", at + 4 * s, at + 5 * s, pid=777)]
        find_evidence(fault, RunResult(
            job_status="done", seconds=1.0, samples={}, artifacts={}, artifact_sizes={},
            tree=set(), leftovers=[], media={}, runs=runs, targets={"done": 1},
            worker_log=log), {})
        return fault

    f = judge(f"catalog connection cut (task {task}): OperationalError: connection failed")
    assert (f.touched, f.visible) == (True, True), f.evidence
    f = judge("catalog connection cut (task another): OperationalError: connection failed")
    assert (f.touched, f.visible) == (True, False)
    assert f.evidence.startswith("NOT RECORDED")

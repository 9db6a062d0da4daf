"""Claims of several targets at once, the one heartbeat thread per process, and the scheduler's
batches of tiny targets, on SQLite and PostgreSQL: what issue 17's cheaper per-target path must
keep (a target taken over by another run is not beaten for and its late commit is refused; a
dead process's batch is taken over at once; a batch delivered twice is run once).

The runner and scheduler run in this process on real catalogs; the source and checksum stages
run their real handlers over small files, so the test stage's targets are real ones.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.settings import Settings
from core.stages import Stage
from db import state
from db.engine import session_scope
from db.models import Sample, Target, TargetStatus, TaskRun, utcnow
from scheduler.loop import Scheduler
from scheduler.submit import submit_file
from tests.pipeline_harness import catalog, configure, make_folder, write_job
from tests.pipeline_stages import handle as fake_handle
from worker.tasks import checksum, source
from worker.tasks.runner import Heartbeat, claim_many, run_target


def _ready_job(settings: Settings, root: Path, files: int, name: str) -> tuple[int, list[int]]:
    """A job whose source and checksum targets were run (in this process); returns its id
    and its pending fake_analyze target ids, which no tick has queued yet."""
    engine = catalog(settings)
    job_id = submit_file(engine, write_job(root, make_folder(root / name, files), name=name))
    sent: list[tuple[str, list[int]]] = []
    sched = Scheduler(engine, settings, lambda stage, ids, queue: sent.append((stage.name, ids)))
    handlers = {"source": source.handle, "checksum": checksum.handle}
    for _ in range(4):
        sched.tick([job_id])
        for stage, ids in sent:
            if stage in handlers:
                run_target(ids if len(ids) > 1 else ids[0], handlers[stage])
        sent.clear()
    with session_scope(engine) as session:
        session.execute(update(Target).where(Target.job_id == job_id,
                                             Target.stage == "fake_analyze")
                        .values(status=TargetStatus.PENDING, queued_at=None))
        ids = list(session.scalars(select(Target.id).where(
            Target.job_id == job_id, Target.stage == "fake_analyze").order_by(Target.id)))
    assert len(ids) == files
    return job_id, ids


def _heartbeats(settings: Settings, ids: list[int]) -> dict[int, object]:
    with session_scope(catalog(settings)) as session:
        return dict(session.execute(select(Target.id, Target.heartbeat_at)
                                    .where(Target.id.in_(ids))).all())


def test_batch_claim_one_heartbeat_thread_and_refused_late_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str
) -> None:
    """Four targets claimed in one transaction (one token and one running run each, the job's
    spec and file loaded); a second claim by a live owner takes none; the process's one
    heartbeat thread refreshes all four in one beat; after one is taken over (stale lease), the
    beat leaves it alone and the old run's commit is refused while the new one's succeeds."""
    settings = configure(monkeypatch, tmp_path, catalog_url=catalog_url)
    engine = catalog(settings)
    job_id, ids = _ready_job(settings, tmp_path, 6, "claims")
    batch = ids[:4]

    claims = claim_many(engine, batch, settings)
    assert sorted(claims) == batch
    assert len({c.token for c in claims.values()}) == 4
    assert all(c.attempt == 1 and c.stage == "fake_analyze" and c.job_id == job_id
               and c.file is not None and c.spec["fake_analyze"]["samples_per_file"] == 3
               for c in claims.values())
    with session_scope(engine) as session:
        runs = dict(session.execute(select(TaskRun.target_id, TaskRun.status)
                                    .where(TaskRun.target_id.in_(batch))).all())
        assert runs == {t: TargetStatus.RUNNING for t in batch}
        again = state.claim_many(session, batch, worker="elsewhere:1", token_prefix="x",
                                 lease_seconds=60, owner_is_dead=lambda owner: False)
    assert again == {}, "a live run's targets were claimed twice"

    beat = Heartbeat.of_process(3600)  # the test beats by hand
    assert Heartbeat.of_process(3600) is beat
    beat.hold(engine, {t: c.token for t, c in claims.items()})
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope(engine) as session:
        session.execute(update(Target).where(Target.id.in_(batch))
                        .values(heartbeat_at=long_ago))
    beat.beat_now()
    assert all(at > long_ago + timedelta(minutes=59) for at in _heartbeats(settings, batch)
               .values()), "one beat refreshes every held target"
    assert sum(t.name == "samplemill-heartbeat" for t in threading.enumerate()) == 1

    lost = batch[0]
    beat.drop(engine, lost)  # its beats stop (the thread must not refresh it mid-test)
    with session_scope(engine) as session:
        session.execute(update(Target).where(Target.id == lost).values(heartbeat_at=long_ago))
        taken = state.claim_many(session, [lost], worker="elsewhere:2", token_prefix="y",
                                 lease_seconds=60, owner_is_dead=lambda owner: False)
    assert list(taken) == [lost] and taken[lost].attempt == 2
    with session_scope(engine) as session:
        tokens = {t: c.token for t, c in claims.items()}
        assert state.heartbeat_many(session, tokens) == 3, "beat a target it lost"
    file_id = claims[lost].file.id  # type: ignore[union-attr]
    with pytest.raises(state.LeaseLost), session_scope(engine) as session:
        session.add(Sample(job_id=job_id, file_id=file_id, idx=0, start=0.0, dur=1.0,
                           power=0.0, hz=0.0, note="-", octave=-1, midi=0.0, clarity=0.0))
        session.flush()
        state.complete(session, lost, claims[lost].token)  # the old run's late commit
    with session_scope(engine) as session:
        state.complete(session, lost, taken[lost].token)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 0
        statuses = dict(session.execute(select(TaskRun.run_token, TaskRun.status)
                                        .where(TaskRun.target_id == lost)).all())
        assert statuses == {claims[lost].token: state.LOST,
                            taken[lost].token: TargetStatus.DONE}
    for t in batch:
        beat.drop(engine, t)
    assert beat.held() == {}


def test_scheduler_batches_tiny_targets_and_a_batch_runs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str
) -> None:
    """With no finished runs to go by, the loop sends one target per message; once the stage's
    runs are known to be tiny, several per message (at most max_batch, at least four messages).
    A batch claimed by a process that died is taken over at once by its re-delivery; delivered
    again, it is skipped; every file has its samples exactly once."""
    settings = configure(monkeypatch, tmp_path, catalog_url=catalog_url, max_batch=8,
                         batch_seconds=30)  # batched however loaded the machine is
    engine = catalog(settings)
    limits = {"io": 1000, "cpu": 1000, "render": 2}
    settings = settings.model_copy(update={"queue_limits": limits})
    sent: list[tuple[str, list[int]]] = []

    def send(stage: Stage, ids: list[int], queue: str) -> None:
        sent.append((stage.name, list(ids)))

    first, first_ids = _ready_job(settings, tmp_path, 10, "first")
    Scheduler(engine, settings, send).tick([first])
    messages = [ids for stage, ids in sent if stage == "fake_analyze"]
    assert sorted(t for ids in messages for t in ids) == first_ids
    assert {len(ids) for ids in messages} == {1}, "batched without knowing the stage's cost"
    for ids in messages:
        assert run_target(ids[0], fake_handle) == TargetStatus.DONE
    sent.clear()

    second, second_ids = _ready_job(settings, tmp_path, 40, "second")
    Scheduler(engine, settings, send).tick([second])
    messages = [ids for stage, ids in sent if stage == "fake_analyze"]
    assert sorted(t for ids in messages for t in ids) == second_ids
    assert max(len(ids) for ids in messages) > 1, "tiny targets were not batched"
    assert max(len(ids) for ids in messages) <= 8 and len(messages) >= 4

    dead = messages[0]  # claimed by a process that is gone, then re-delivered here
    with session_scope(engine) as session:
        state.claim_many(session, dead, worker=f"{socket.gethostname()}:{_dead_pid()}",
                         token_prefix="gone", lease_seconds=60,
                         owner_is_dead=lambda owner: False)
    assert run_target(dead, fake_handle) == ",".join([TargetStatus.DONE] * len(dead))
    assert run_target(dead, fake_handle) == ",".join(["skipped-duplicate"] * len(dead))
    for ids in messages[1:]:
        run_target(ids if len(ids) > 1 else ids[0], fake_handle)
    with session_scope(engine) as session:
        per_file = dict(session.execute(select(Sample.file_id, func.count())
                                        .where(Sample.job_id == second)
                                        .group_by(Sample.file_id)).all())
        assert len(per_file) == 40 and set(per_file.values()) == {3}
        runs = dict(session.execute(select(TaskRun.status, func.count())
                                    .where(TaskRun.target_id.in_(second_ids))
                                    .group_by(TaskRun.status)).all())
    assert runs == {TargetStatus.DONE: 40, state.LOST: len(dead)}


def _dead_pid() -> int:
    """A process id that no process on this machine has now."""
    import psutil

    pid = 4_000_000
    while psutil.pid_exists(pid) or pid == os.getpid():
        pid -= 1
    return pid

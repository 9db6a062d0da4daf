"""The reconciliation loop: derive from the catalog what needs doing, enqueue a bounded amount
of it, and advance jobs whose stages are finished.

Nothing is remembered between ticks except in the catalog, so the loop can be stopped and
restarted at any moment (or run as several replicas: enqueueing is guarded by the status
update, and a duplicate message is harmless because tasks claim their target).

A message carries one target id, or a list of several of a stage's targets when the stage's
recent runs say they are tiny (SAMPLEMILL_BATCH_SECONDS, SAMPLEMILL_MAX_BATCH): the per-message
cost (broker, worker hand-off, claim transaction) is then shared. Each target in it is still
claimed, leased and committed on its own terms, so a batch is as safe to repeat or kill as one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from core.queues import QUEUES
from core.settings import Settings
from core.stages import Stage, get_stage, job_stages
from db import state
from db import targets as tq
from db.engine import session_scope
from db.models import utcnow
from scheduler.broker_watch import BrokerWatch

log = logging.getLogger(__name__)

Sender = Callable[[Stage, list[int], str], None]
"""send(stage, target_ids, queue): publish one message of the stage's task for these targets
(one or several) onto `queue`."""


def task_args(target_ids: list[int]) -> list[int | list[int]]:
    """A task message's arguments: the target id alone, or the list of a batch's ids (every
    task passes what it gets to `run_target`, which takes either)."""
    return [target_ids[0] if len(target_ids) == 1 else list(target_ids)]


class CelerySender:
    """Sends a stage's task for some target ids onto the given queue of a Celery app's broker."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def __call__(self, stage: Stage, target_ids: list[int], queue: str) -> None:
        self.app.send_task(stage.task_name, args=task_args(target_ids), queue=queue)


def celery_sender(app: Celery) -> Sender:
    """Send a stage's task for some target ids onto the given queue."""
    return CelerySender(app)


Batch = tuple[Stage, list[int], list[str], int]
"""What a tick sends for one stage: its target ids, each one's queue, and how many to a message."""


@dataclass
class TickReport:
    """What one pass of the loop did (for tests, logs and benchmarks)."""

    created: int = 0
    enqueued: int = 0
    resent: int = 0
    rescued: int = 0  # re-sent at once: the broker lost their messages
    recovered: int = 0
    messages: int = 0  # task messages sent (a batch of tiny targets is one)
    finished_jobs: list[int] = field(default_factory=list)


class Scheduler:
    """Feeds the queues from the catalog; `tick()` is one reconciliation pass."""

    def __init__(
        self, engine: Engine, settings: Settings, send: Sender, *, watch_broker: bool = True
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.send = send
        self.watch: BrokerWatch | None = None
        if watch_broker and isinstance(send, CelerySender):
            self.watch = BrokerWatch.from_broker_url(str(send.app.conf.broker_url), QUEUES)

    def tick(self, job_ids: list[int] | None = None) -> TickReport:
        """One pass over every active job (or only `job_ids`)."""
        report = TickReport()
        with session_scope(self.engine) as session:
            jobs = tq.active_jobs(session, job_ids)
            report.recovered = state.recover_stale(
                session,
                lease_seconds=self.settings.lease_seconds,
                max_attempts=self.settings.max_attempts,
                job_ids=[j for j, _ in jobs],
            )
        self._rescue_lost(jobs, report)
        for job_id, spec in jobs:
            self._tick_job(job_id, spec, report)
        return report

    def _rescue_lost(self, jobs: list[tuple[int, dict]], report: TickReport) -> None:
        """Re-send at once the queued targets whose messages the broker lost (it restarted
        without its queues), instead of after SAMPLEMILL_REQUEUE_SECONDS."""
        if self.watch is None or not jobs:
            return
        specs = dict(jobs)
        with session_scope(self.engine) as session:
            queued = state.queued_targets(session, list(specs))
        lost = self.watch.lost([(t, at) for t, _, _, at in queued], utcnow())
        if not lost:
            return
        to_send: list[Batch] = []
        with session_scope(self.engine) as session:
            ids = set(state.resend_now(session, lost))
            batches: dict[tuple[int, str], list[int]] = {}
            for t, job_id, name, _ in queued:
                if t in ids:
                    batches.setdefault((job_id, name), []).append(t)
            for (job_id, name), batch in batches.items():
                stage = get_stage(name)
                to_send.append((stage, batch, self._queues(session, specs[job_id], stage, batch),
                                self._batch_size(session, job_id, stage, len(batch))))
        log.warning("re-sending %d queued target(s) whose messages the broker lost", len(ids))
        report.rescued += len(ids)
        self._send_all(to_send, report)

    def _tick_job(self, job_id: int, spec: dict, report: TickReport) -> None:
        stages = job_stages(spec)
        to_send: list[Batch] = []
        all_complete = True
        with session_scope(self.engine) as session:
            earlier_files: list[Stage] = []
            earlier_complete = True
            for stage in stages:
                created = 0
                if stage.scope == "file":
                    created = tq.materialise_file_targets(session, job_id, stage, earlier_files)
                    earlier_files.append(stage)
                elif earlier_complete:
                    created = tq.ensure_job_targets(session, job_id, stage,
                                                    stage.target_keys(spec))
                report.created += created
                complete = (
                    earlier_complete
                    and created == 0
                    and tq.open_count(session, job_id, stage.name) == 0
                )
                earlier_complete = earlier_complete and complete
                all_complete = all_complete and complete
            for queue, limit in self._queue_budgets(session, job_id, stages).items():
                for stage in (s for s in stages if s.queue == queue):
                    if limit <= 0:
                        break
                    resend = state.resend_due(
                        session,
                        job_id=job_id,
                        stage=stage.name,
                        older_than=self.settings.requeue_seconds,
                    )
                    ids = state.take_pending(session, job_id, stage.name, limit)
                    limit -= len(ids)
                    report.resent += len(resend)
                    if ids or resend:
                        batch = [*resend, *ids]
                        to_send.append((stage, batch, self._queues(session, spec, stage, batch),
                                        self._batch_size(session, job_id, stage, len(batch))))
            if all_complete:
                state.finish_job(session, job_id, stages[-1].name if stages else None)
                report.finished_jobs.append(job_id)
        self._send_all(to_send, report)

    def _queue_budgets(self, session: Session, job_id: int, stages: list[Stage]) -> dict[str, int]:
        """How many more targets each queue may take for this job (backpressure)."""
        budgets: dict[str, int] = {}
        for queue in dict.fromkeys(s.queue for s in stages):
            names = [s.name for s in stages if s.queue == queue]
            cap = self.settings.queue_limits.get(queue, 4)
            budgets[queue] = cap - tq.in_flight(session, job_id, names)
        return budgets

    def _queues(self, session: Session, spec: dict, stage: Stage, ids: list[int]) -> list[str]:
        """The queue of each target: the stage's, or per target when the stage routes by its
        parameters (a render kind that runs elsewhere)."""
        if stage.queue_of is None:
            return [stage.queue] * len(ids)
        keys = tq.target_keys(session, ids)
        return [stage.queue_for(stage.params_for(spec, keys[i])) for i in ids]

    def _batch_size(self, session: Session, job_id: int, stage: Stage, n: int) -> int:
        """How many of `n` targets of a stage to put in one message: as many as its recent
        runs say take SAMPLEMILL_BATCH_SECONDS, at most SAMPLEMILL_MAX_BATCH, and few enough
        that the tick's targets still make at least four messages (so several workers share
        them); 1 while the stage has no finished run to go by."""
        settings = self.settings
        if n < 8 or settings.batch_seconds <= 0 or settings.max_batch <= 1:
            return 1
        per_target = state.seconds_per_target(session, job_id, stage.name)
        if per_target is None:
            return 1
        fit = int(settings.batch_seconds / max(per_target, 1e-4))
        return max(1, min(fit, settings.max_batch, n // 4))

    def _send_all(self, batches: list[Batch], report: TickReport) -> None:
        """Publish after the commit that marked the targets queued, `size` consecutive targets
        of a queue to a message; undo what fails to send (that message's and the rest)."""
        for stage, ids, queues, size in batches:
            n = 0
            while n < len(ids):
                queue = queues[n]
                chunk = [ids[n]]
                while len(chunk) < size and n + len(chunk) < len(ids) \
                        and queues[n + len(chunk)] == queue:
                    chunk.append(ids[n + len(chunk)])
                try:
                    self.send(stage, chunk, queue)
                    report.enqueued += len(chunk)
                    report.messages += 1
                except Exception:
                    log.exception("could not send %s for targets %s", stage.name, chunk)
                    with session_scope(self.engine) as session:
                        state.release(session, ids[n:])
                    break
                n += len(chunk)

    def run_forever(
        self,
        *,
        job_ids: list[int] | None = None,
        until_done: bool = False,
        stop: Callable[[], bool] = lambda: False,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> None:
        """Tick every `poll_seconds` until stopped (or until the given jobs are finished).

        A catalog outage (PostgreSQL restarting, connections dropped mid-transaction) does not
        end the loop: the tick is abandoned, logged, and tried again with a growing pause; the
        next tick starts from what the catalog holds, as every tick does."""
        outage = 0
        while not stop():
            started = time.monotonic()
            try:
                report = self.tick(job_ids)
                if on_tick is not None:
                    on_tick(report)
                if until_done:
                    with session_scope(self.engine) as session:
                        if not tq.active_jobs(session, job_ids):
                            return
            except DBAPIError as exc:
                if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
                    raise
                outage += 1
                pause = min(30.0, self.settings.poll_seconds * 2 ** min(outage, 6))
                log.warning("catalog unreachable (%s); tick again in %.1f s",
                            str(exc.orig or exc).splitlines()[0], pause)
                time.sleep(pause)
                continue
            if outage:
                log.warning("catalog reachable again after %d failed tick(s)", outage)
                outage = 0
            busy = report.enqueued > 0 or report.created > 0
            delay = 0.05 if busy else self.settings.poll_seconds
            time.sleep(max(0.0, delay - (time.monotonic() - started)))

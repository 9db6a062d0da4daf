"""The seeded fault plan of the chaos suite: which faults, in which stage, at which moment.

Moments are chosen from the seed as progress points (the k-th run of a stage to start, a share
of a stage's targets done) plus a random delay, so the same seed aims at the same places of
the job whatever the machine's speed; the driver (tests/chaos/driver.py) fires them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

# SIGKILLs of worker children per stage, in proportion (scaled to the plan's total).
KILL_WEIGHTS = {"source": 1, "download": 4, "probe": 3, "analyze": 6, "subset": 1, "layout": 1,
                "render": 4}
FILE_STAGES = ("download", "probe", "analyze")
# the render group: the render targets and the stages they fan out into (grid renders cut
# their work into cache, chunk and join targets; vsamples prepares the grid's pictures)
RENDER_STAGES = ("vsamples", "render", "render_cache", "render_chunk", "render_join")


def group_of(stage: str) -> str:
    """The plan's name for a catalog stage (every render stage is "render")."""
    return "render" if stage in RENDER_STAGES or stage.startswith("render") else stage


@dataclass
class Fault:
    """One planned fault and, once the run is over, what became of it."""

    kind: str  # kill-child, kill-scheduler, restart-redis, restart-postgres, disk-full,
    #            source-stall, source-trickle, source-cut, proxy-stall, proxy-trickle, proxy-reset
    stage: str  # the stage it aims at
    ordinal: int = 0  # kill-child: the stage's ordinal-th run to start (moved on if missed)
    share: float = 0.0  # other kinds: fire once this share of the stage's targets is done
    delay: float = 0.0  # seconds after the trigger
    hold: float = 0.0  # how long an outage / full disk / stall lasts
    file_index: int | None = None  # source-* faults: the film the server misbehaves on
    # filled by the driver
    injected: bool = False
    at: datetime | None = None  # catalog time (UTC, naive) of the injection
    until: datetime | None = None
    target_ids: list[int] = field(default_factory=list)
    running: list[tuple[int, str]] = field(default_factory=list)  # (target, worker) at the fault
    pid: int | None = None
    # kill-child: the driver's fresh look at the catalog just before the SIGKILL, and the ids
    # of the killed process's runs that were open (`running`) then
    looked_at: datetime | None = None
    open_runs: list[int] = field(default_factory=list)
    detail: str = ""
    # filled by the verification: whether the fault reached any work (None: not judged, taken
    # as injected), and whether that shows in task_runs
    touched: bool | None = None
    visible: bool = False
    evidence: str = ""
    diagnosis: str = ""  # the full record behind the evidence, printed when a check fails

    @property
    def label(self) -> str:
        """A short name for tables."""
        return f"{self.kind}@{self.stage}"


@dataclass
class Plan:
    """Every fault of one chaos run, from one seed."""

    seed: int
    faults: list[Fault]

    def of(self, kind: str) -> list[Fault]:
        """The faults of one kind."""
        return [f for f in self.faults if f.kind == kind]


def make_plan(seed: int, films: int, *, kills: int = 20, scheduler_kills: int = 3,
              source_faulted: list[tuple[int, str]] = ()) -> Plan:  # type: ignore[assignment]
    """The plan for a job of `films` films: `kills` child SIGKILLs spread over the stages by
    KILL_WEIGHTS, `scheduler_kills` scheduler SIGKILLs, one Redis and one PostgreSQL restart,
    the data disk filled during downloads and during the grid render, and the source server's
    faults (the films in `source_faulted`, with their kind, plus proxy-wide stall, trickle and
    reset moments)."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    total_w = sum(KILL_WEIGHTS.values())
    counts = {s: max(1, round(kills * w / total_w)) for s, w in KILL_WEIGHTS.items()}
    while sum(counts.values()) > kills:
        counts[max(counts, key=lambda s: counts[s])] -= 1
    while sum(counts.values()) < kills:
        counts["analyze"] += 1
    for stage, n in counts.items():
        # file stages: the k-th file's run; job stages: successive runs; renders: the first
        # dozen runs of the render group (cache, chunk, join targets included)
        pool = films if stage in FILE_STAGES else 12 if stage == "render" else n
        ordinals = sorted(rng.sample(range(max(pool, n)), n))
        for o in ordinals:
            delay = (rng.uniform(0.3, 3.0) if stage == "render" else rng.uniform(0.0, 0.05)
                     if stage in ("probe", "subset") else rng.uniform(0.02, 0.6))
            faults.append(Fault("kill-child", stage, ordinal=o, delay=delay))
    sched_points = [("download", rng.uniform(0.2, 0.6)), ("analyze", rng.uniform(0.2, 0.8)),
                    ("render", 0.0)][:scheduler_kills]
    for stage, share in sched_points:
        faults.append(Fault("kill-scheduler", stage, share=share, delay=rng.uniform(0.0, 1.0),
                            hold=rng.uniform(0.5, 3.0)))
    faults.append(Fault("restart-redis", "analyze", share=rng.uniform(0.25, 0.45),
                        hold=rng.uniform(0.2, 1.0)))
    faults.append(Fault("restart-postgres", "analyze", share=rng.uniform(0.55, 0.8),
                        hold=rng.uniform(1.0, 3.0)))
    faults.append(Fault("disk-full", "download", share=rng.uniform(0.1, 0.4), hold=4.0))
    faults.append(Fault("disk-full", "render", hold=20.0))  # freed once a render meets it
    for index, kind in source_faulted:
        faults.append(Fault(f"source-{kind}", "download", file_index=index))
    faults.append(Fault("proxy-stall", "download", share=rng.uniform(0.3, 0.7), hold=3.0))
    faults.append(Fault("proxy-trickle", "download", share=rng.uniform(0.3, 0.7), hold=3.0))
    faults.append(Fault("proxy-reset", "download", share=rng.uniform(0.3, 0.7)))
    return Plan(seed, faults)

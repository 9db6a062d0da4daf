"""The chaos suite (issue 17, part 1): one job of generated films through every stage, renders
included, on Redis and PostgreSQL, first fault-free and then under a seeded fault plan:
SIGKILLed worker children across all stages, a scheduler killed and restarted, Redis restarted
(its queue lost), PostgreSQL crashed mid-transaction, the data disk filled during downloads and
during a render, and a source server that stalls, trickles and resets. The chaos run must end
done with every file's samples present exactly once, every artifact byte-identical to the
fault-free run's, no half-written file left, and each fault visible in `task_runs`.

It runs on its own redis-server and PostgreSQL cluster (free ports; never the shared 6379 and
5432), and mounts a small tmpfs as the data directory (root; without it the disk faults are
reported as not injected). Deselected by default (marker `chaos`); run it with

    .venv/bin/python -m pytest -p no:cacheprovider -m chaos tests/chaos -s

SAMPLEMILL_CHAOS_FILMS (default 100) and SAMPLEMILL_CHAOS_SEED (default 17) choose the job's
size and the plan.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.driver import Driver
from tests.chaos.films import film_name, make_films, source_faults
from tests.chaos.harness import SETTINGS, Live, RunResult, Services, run_job
from tests.chaos.own_postgres import OwnPostgres
from tests.chaos.plan import make_plan
from tests.chaos.verify import details, find_evidence, table
from tests.faults.own_redis import OwnRedis

FILMS = int(os.environ.get("SAMPLEMILL_CHAOS_FILMS", "100"))
SEED = int(os.environ.get("SAMPLEMILL_CHAOS_SEED", "17"))
RUN_TIMEOUT = float(os.environ.get("SAMPLEMILL_CHAOS_RUN_TIMEOUT", "900"))

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(3 * RUN_TIMEOUT + 300)]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """A private PostgreSQL cluster and redis-server, destroyed afterwards."""
    pg = OwnPostgres()
    pg.start()
    server = OwnRedis(tmp_path)
    try:
        server.start()
        yield Services(pg=pg, redis=server, root=tmp_path)
    finally:
        server.stop()
        pg.destroy()


def test_chaos_job_matches_the_fault_free_run(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the films are the same on every run (seeded): kept between runs in the temp folder
    films = make_films(Path(tempfile.gettempdir()) / "samplemill-chaos-films-v1", FILMS)
    sizes = {i: p.stat().st_size for i, p in enumerate(films)}
    server_faults = source_faults(FILMS, SEED, attempts=int(SETTINGS["download_attempts"]),
                                  size_of=sizes)

    baseline = run_job(monkeypatch, services, "baseline", films, timeout=RUN_TIMEOUT)
    assert baseline.job_status == "done", baseline.targets
    assert set(baseline.targets) == {"done"}
    assert len(baseline.samples) == FILMS and all(baseline.samples.values())
    assert {"sorted_audio:by-sound", "proliferation:rings"} <= set(baseline.artifacts)

    plan = make_plan(SEED, FILMS, source_faulted=[(i, kind) for i, (kind, _) in
                                                  sorted(server_faults.items())])
    drivers: list[Driver] = []

    def start(live: Live) -> Driver:
        drivers.append(Driver(live, plan, FILMS))
        return drivers[-1]

    chaos = run_job(monkeypatch, services, "chaos", films,
                    faults={i: f for i, (_, f) in server_faults.items()},
                    driver=start, timeout=RUN_TIMEOUT)
    for fault in plan.faults:  # the server's own faults: injected when their request came
        if fault.kind.startswith("source-"):
            name = film_name(fault.file_index or 0)
            fault.injected = True
            fault.detail = f"{name}: {fault.kind.removeprefix('source-')} x2 (server)"
    for fault in plan.faults:
        find_evidence(fault, chaos, chaos.file_ids)

    problems = check(baseline, chaos)
    # a fault is survived when the job still ended done with the fault-free run's samples,
    # downloads and artifacts; a temporary file left behind is a problem, not a lost fault
    text, _ = table(plan, job_ok=not [p for p in problems if not p.startswith("temporary")])
    report = (f"\nchaos suite: {FILMS} films, seed {SEED}; fault-free run {baseline.seconds:.0f}s,"
              f" chaos run {chaos.seconds:.0f}s; exits nobody asked for (restarted as a "
              f"supervisor would): scheduler {chaos.scheduler_restarts_unasked}, worker main "
              f"process {chaos.worker_exits_unasked}\n{text}\n{details(plan)}\n"
              + ("driver notes: " + "; ".join(drivers[0].notes) + "\n" if drivers and
                 drivers[0].notes else "")
              + ("PROBLEMS:\n  " + "\n  ".join(problems) + "\n" if problems else "all checks "
                 "passed\n"))
    diagnoses = [f.diagnosis for f in plan.faults if f.diagnosis]
    if diagnoses:  # the full record behind each fault whose evidence is missing or odd
        report += "evidence detail:\n" + "\n".join(diagnoses) + "\n"
    (tmp_path / "chaos-report.txt").write_text(report)
    # every run and fault as recorded, to judge the evidence again without the services
    (tmp_path / "chaos-runs.json").write_text(json.dumps(
        {"runs": chaos.runs, "faults": [vars(f) for f in plan.faults]}, default=str, indent=0))
    with capsys.disabled():
        print(report)
    assert not problems, problems
    # every fault that reached work must show in task_runs. Judged per kind (verify.py): a
    # PostgreSQL crash touches the attempts inside a catalog transaction or whose claim it
    # erased, a full disk the runs that ran on it; one that touched nothing is printed so.
    # The source server's faults may be absorbed inside one download run (a trickle is cut
    # and resumed, a stall retried, by the download itself): at least one of them must show.
    # A full disk during the renders is met only by a render run that writes in its 20 s (in
    # some runs none does): reported in the table, not required (docs/chaos.md)
    missing = [f"{f.label}: {f.evidence}" for f in plan.faults
               if f.injected and f.touched is not False and not f.visible
               and not f.kind.startswith(("proxy-", "source-")) and f.label != "disk-full@render"]
    assert not missing, f"injected faults that touched work but are not in task_runs: {missing}"
    assert any(f.visible for f in plan.faults if f.kind.startswith("source-"))


def check(baseline: RunResult, chaos: RunResult) -> list[str]:
    """Everything the chaos run must share with the fault-free one; returns what differs."""
    problems = []
    if chaos.job_status != "done":
        problems.append(f"job ended {chaos.job_status}: targets {chaos.targets}")
    if set(chaos.targets) != {"done"}:
        problems.append(f"targets not all done: {chaos.targets}")
    if set(chaos.samples) != set(baseline.samples):
        problems.append(f"files with samples differ: {set(chaos.samples) ^ set(baseline.samples)}")
    for key, rows in chaos.samples.items():
        idx = [r[0] for r in rows]
        if idx != list(range(len(idx))):
            problems.append(f"{key}: sample indexes not 0..n-1 exactly once: {idx}")
        elif rows != baseline.samples.get(key):
            problems.append(f"{key}: samples differ from the fault-free run's")
    if chaos.media != baseline.media:
        bad = sorted(k for k in chaos.media if chaos.media[k] != baseline.media.get(k))
        problems.append(f"downloaded files differ: {bad[:5]}")
    if set(chaos.artifacts) != set(baseline.artifacts):
        problems.append(f"artifacts differ: {set(chaos.artifacts) ^ set(baseline.artifacts)}")
    for name, digest in chaos.artifacts.items():
        if baseline.artifacts.get(name) not in (None, digest):
            problems.append(f"artifact {name!r} is not byte-identical to the fault-free run's "
                            f"({chaos.artifact_sizes[name]} vs {baseline.artifact_sizes[name]} "
                            "bytes)")
    if chaos.leftovers:
        problems.append(f"temporary files left behind: {chaos.leftovers[:10]}")
    done_runs: dict[int, int] = {}
    for r in chaos.runs:
        if r["status"] == "done":
            done_runs[r["target_id"]] = done_runs.get(r["target_id"], 0) + 1
    twice = sorted(t for t, n in done_runs.items() if n > 1)
    if twice:
        problems.append(f"targets completed by more than one run: {twice[:10]}")
    return problems

"""After a chaos run: find each injected fault in `task_runs`, and print the table of faults
planned, injected, visible and survived."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tests.chaos.films import film_name
from tests.chaos.harness import RunResult
from tests.chaos.plan import Fault, Plan, group_of

DISK_WORDS = ("disk", "space", "ENOSPC", "Errno 28")
LINK_WORDS = ("connection", "server closed", "terminating", "OperationalError")
INTERRUPTED = "interrupted"  # db/fault_log.py: an attempt a catalog outage cut short
# Celery's own line for a task that raised (worker.log): the independent record of a task a
# catalog outage cut, whatever the task_runs say
RAISED_ON_CATALOG = re.compile(r"Task [\w.]+\[([0-9a-f-]{36})\] raised unexpected: "
                               r"\w*(?:OperationalError|InterfaceError)")


def _runs_of(result: RunResult, target_id: int) -> list[dict[str, Any]]:
    return [r for r in result.runs if r["target_id"] == target_id]


def _between(run: dict[str, Any], start: datetime | None, end: datetime | None,
             slack: float = 2.0) -> bool:
    """Whether a run was alive at some moment of [start, end + slack]."""
    if start is None:
        return False
    end = (end or start) + timedelta(seconds=slack)
    finished = run["finished_at"] or datetime.max
    return run["started_at"] <= end and finished >= start


def find_evidence(fault: Fault, result: RunResult, file_keys: dict[str, str]) -> None:
    """Set `fault.visible` and `fault.evidence` from the run's task_runs."""
    if not fault.injected:
        return
    kind = fault.kind
    runs = result.runs
    if kind == "kill-child":
        mine = [r for r in _runs_of(result, fault.target_ids[0])
                if str(r["worker"]).endswith(f":{fault.pid}")]
        hit = [r for r in mine if r["status"] == "lost"]
        fault.visible = bool(hit)
        fault.evidence = f"run {hit[0]['id']} lost: {hit[0]['error']}" if hit else "no lost run"
        if not hit and mine and all(r["status"] == "done" for r in mine):
            # the SIGKILL came in the milliseconds after the run's commit: nothing to lose
            fault.injected = False
            fault.evidence = "landed just after the run committed (not counted)"
    elif kind == "kill-scheduler":
        # the scheduler writes no task_runs of its own: its death shows as work that goes on
        # after the restart (targets it had not yet sent are sent by the next scheduler)
        after = [r for r in runs if fault.until and r["started_at"] >= fault.until]
        fault.visible = bool(after)
        fault.evidence = f"{len(after)} runs started after the restart"
    elif kind == "restart-redis":
        since = fault.until or fault.at
        rescued = [t for t in fault.target_ids
                   if any(r["started_at"] >= since for r in _runs_of(result, t))]
        fault.visible = bool(rescued)
        fault.evidence = (f"{len(rescued)}/{len(fault.target_ids)} targets whose messages were "
                          "lost ran after the restart (re-sent)")
    elif kind == "restart-postgres":
        _postgres_evidence(fault, result)
    elif kind == "disk-full":
        group = fault.stage
        mine = [r for r in runs if group_of(r["stage"]) == group]
        hit = [r for r in mine if r["status"] != "done"
               and any(w in str(r["error"]) for w in DISK_WORDS)
               and _between(r, fault.at, fault.until)]
        # runs that began and ended while the disk was full ran wholly on it: had they done
        # anything but wait for space, that is a fault that touched work and left no trace
        inside = [r for r in mine if fault.at and fault.until and r["started_at"] >= fault.at
                  and r["finished_at"] is not None and r["finished_at"] <= fault.until]
        fault.touched = bool(hit or inside)
        fault.visible = bool(hit)
        fault.evidence = (f"{len(hit)} {group} runs {sorted({r['status'] for r in hit})} on "
                          f"it, {len(inside)} ran wholly inside it: "
                          + (str(hit[0]["error"])[:70] if hit else "-") if fault.touched else
                          f"touched nothing: no {group} run met the full disk")
    elif kind.startswith("source-"):
        name = film_name(fault.file_index or 0)
        key = f"{name}/{name}.mp4"
        target_keys = {k for k, v in file_keys.items() if v == key}
        hit = [r for r in runs if r["stage"] == "download" and r["key"] in target_keys
               and r["status"] == "failed" and "DownloadError" in str(r["error"])]
        fault.visible = bool(hit)
        fault.evidence = (f"{len(hit)} failed download runs of {key}: "
                          + (str(hit[0]["error"])[:80] if hit else "absorbed inside one run "
                             "(the download resumes a trickle or a stall itself)"))
    elif kind.startswith("proxy-"):
        hit = [r for r in runs if r["stage"] in ("download", "source") and r["status"] != "done"
               and _between(r, fault.at, fault.until, slack=3.0)]
        fault.visible = bool(hit)
        fault.evidence = (f"{len(hit)} download runs failed in the window" if hit else
                          "absorbed by the download's own retries (no failed run)")


def _postgres_evidence(fault: Fault, result: RunResult) -> None:
    """A PostgreSQL crash touches the attempts that were inside a catalog transaction (claim,
    commit, failure) or whose claim the restarted server forgot: each must show as a run
    `interrupted` (db/fault_log.py), failed on the catalog error, or lost. Two records that do
    not depend on task_runs say which attempts it touched: the runs the driver saw running at
    the crash (each must have a row of its worker's), and Celery's log line of every task
    that raised a catalog error (each must be named by an interrupted row, or by a lost one
    whose lease ran out first). Runs that were computing outside any transaction through the
    outage commit after it: they were not touched, and when every run was like that the fault
    touched nothing and says so."""
    runs = result.runs
    assert fault.at is not None
    until = fault.until or fault.at
    alive = [r for r in runs if _between(r, fault.at, until, slack=0.0)]
    cut = [r for r in runs if r["status"] == INTERRUPTED and _between(r, fault.at, until, 60.0)]
    link = [r for r in runs if r["status"] == "failed" and _between(r, fault.at, until)
            and any(w in str(r["error"]) for w in LINK_WORDS)]
    lost = [r for r in alive if r["status"] == "lost"]
    evidence = cut + link + lost
    raised = set(RAISED_ON_CATALOG.findall(result.worker_log))
    named = " ".join(str(r["error"]) for r in runs if r["status"] in (INTERRUPTED, "lost"))
    unrecorded = sorted(t for t in raised if t not in named)
    erased = [(t, w) for t, w in fault.running
              if not any(r["target_id"] == t and r["worker"] == w for r in runs)]
    fault.touched = bool(evidence or raised or erased)
    fault.visible = bool(evidence) and not unrecorded and not erased
    done_after = [r for r in alive if r["status"] == "done"]
    if not fault.touched:
        fault.evidence = (f"touched nothing: {len(done_after)} runs computed through the "
                          "outage and committed after it")
        return
    fault.evidence = (f"{len(cut)} interrupted, {len(link)} failed, {len(lost)} lost; "
                      f"{len(raised)} tasks raised on it (log), {len(done_after)} committed "
                      "after it" + (f"; NOT RECORDED: tasks {unrecorded[:3]}" if unrecorded
                                    else "")
                      + (f"; ROWS ERASED: runs {erased[:3]}" if erased else "")
                      + (f"; {str(evidence[0]['error'])[:70]}" if evidence else ""))


def table(plan: Plan, job_ok: bool) -> tuple[str, dict[str, tuple[int, int, int, int]]]:
    """The printed fault table: per kind and stage, planned / injected / touched (reached any
    work; a fault the verification cannot judge counts as touched once injected) / visible in
    task_runs / survived (injected, and the job still ended with every check passed) / lost
    (planned but never injected, or injected and not survived)."""
    rows: dict[tuple[str, str], list[Fault]] = {}
    for f in plan.faults:
        rows.setdefault((f.kind, f.stage), []).append(f)
    lines = [f"{'fault':<18} {'stage':<9} {'planned':>7} {'injected':>8} {'touched':>7} "
             f"{'in runs':>7} {'survived':>8} {'lost':>5}"]
    totals = [0, 0, 0, 0, 0, 0]
    summary: dict[str, tuple[int, int, int, int]] = {}
    for (kind, stage), faults in rows.items():
        planned = len(faults)
        injected = sum(f.injected for f in faults)
        touched = sum(f.injected and f.touched is not False for f in faults)
        visible = sum(f.visible for f in faults)
        survived = injected if job_ok else 0
        lost = planned - survived
        for i, v in enumerate((planned, injected, touched, visible, survived, lost)):
            totals[i] += v
        summary[f"{kind}@{stage}"] = (planned, injected, visible, survived)
        lines.append(f"{kind:<18} {stage:<9} {planned:>7} {injected:>8} {touched:>7} "
                     f"{visible:>7} {survived:>8} {lost:>5}")
    lines.append(f"{'total':<18} {'':<9} {totals[0]:>7} {totals[1]:>8} {totals[2]:>7} "
                 f"{totals[3]:>7} {totals[4]:>8} {totals[5]:>5}")
    return "\n".join(lines), summary


def details(plan: Plan) -> str:
    """One line per fault: what was done and where it shows."""
    out = []
    for f in plan.faults:
        state = "injected" if f.injected else "NOT injected"
        out.append(f"- {f.label:<26} {state:<12} {f.detail[:60]:<60} | {f.evidence[:110]}")
    return "\n".join(out)

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
COMMIT_SLACK = timedelta(seconds=0.2)  # a commit sent just before the kill, stamped just after
# Celery's own line for a task that raised, or was retried (worker/tasks/runner.py retries a
# task whose claim or commit could not reach the catalog), on a catalog error (worker.log):
# the independent record of a task a catalog outage cut, whatever the task_runs say
RAISED_ON_CATALOG = re.compile(r"/([\w-]+)\] Task [\w.]+\[([0-9a-f-]{36})\] "
                               r"(?:raised unexpected|retry: Retry[^:]*): "
                               r"\w*(?:OperationalError|InterfaceError)")
# billiard's line for a pool process that died: its name (the one its log lines carry) and pid
POOL_EXIT = re.compile(r"Process '([\w-]+)' pid:(\d+) exited with '([^']*)'")


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
        _kill_evidence(fault, result)
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


def _of_pid(run: dict[str, Any], pid: int | None) -> bool:
    return pid is not None and str(run["worker"]).rsplit(":", 1)[-1] == str(pid)


def _kill_evidence(fault: Fault, result: RunResult) -> None:
    """A SIGKILLed worker child: judged by every run of that pid, not only the aimed target's.

    The driver fires only when a fresh look at the catalog shows the pid still holding the
    aimed target's open run, and notes every run the pid had open then (a batch's claimed
    targets, tests/chaos/driver.py). The runs in the pid's hands at the kill are those open at
    the look, and any it began or ended between the look and the kill. Each run a dead
    process held open must end `lost` (a re-delivery takes it over, or the lease runs out):

    - a lost run closed after the kill: the kill touched work and it shows;
    - a run still `running` once the job is done: nobody closed the dead worker's run (the
      product does not record the kill);
    - a run open at the look and absent afterwards: its claim was erased (a PostgreSQL crash
      forgetting an asynchronously committed claim);
    - a run closed otherwise after the kill: a dead process cannot close a run (reported);
    - otherwise every run in hand ended by the process itself (done, failed, deferred,
      interrupted) between the look and the signal, or had been cut by a catalog outage and
      was closed `interrupted` by its retry: the kill touched nothing, which is reported so,
      and counted as injected."""
    pid, at = fault.pid, fault.at
    assert at is not None
    looked = fault.looked_at or at
    open_ids = set(fault.open_runs)
    runs = result.runs
    mine = [r for r in runs if _of_pid(r, pid)]
    in_hand = [r for r in mine if r["id"] in open_ids or (
        r["started_at"] <= at and (r["finished_at"] is None or r["finished_at"] >= looked))]
    lost = [r for r in in_hand if r["status"] == "lost" and r["finished_at"] is not None
            and r["finished_at"] >= at]
    never_closed = [r for r in in_hand if r["status"] == "running"]
    present = {r["id"] for r in runs}
    erased = sorted(i for i in open_ids if i not in present)
    closed = [r for r in in_hand if r not in lost and r not in never_closed]
    # ended by the process itself before the signal (its commit may land a moment after the
    # driver's clock read `at`): the kill landed just after it
    ended = [r for r in closed if r["finished_at"] < at + COMMIT_SLACK]
    # a run a catalog outage had already cut, which the process was waiting to record when it
    # was killed, closed `interrupted` afterwards by its retry (worker/tasks/runner.py takes
    # a cut run over at once): the kill took nothing the outage had not
    cut_before = [r for r in closed if r not in ended and r["status"] == INTERRUPTED
                  and "catalog" in str(r["error"])]
    # anything else closed after the kill but `lost`: a dead process cannot close a run
    odd = [r for r in closed if r not in ended and r not in cut_before]
    fault.touched = bool(lost or never_closed or erased or odd)
    fault.visible = bool(lost) and not never_closed and not erased and not odd
    if not fault.touched:
        why = []
        if ended:
            why.append("the kill landed just after the process ended its runs " + ", ".join(
                f"{r['id']} ({r['status']}, target {r['target_id']})" for r in ended[:3]))
        if cut_before:
            why.append(f"its runs {[r['id'] for r in cut_before][:3]} had been cut by the "
                       "catalog outage (closed interrupted by their retry after the kill)")
        fault.evidence = "touched nothing: " + ("; ".join(why) or "the process held no run")
    else:
        fault.evidence = (f"{len(lost)} run(s) lost"
                          + (f" (run {lost[0]['id']} target {lost[0]['target_id']}: "
                             f"{lost[0]['error']})" if lost else "")
                          + (f"; NOT RECORDED: runs {[r['id'] for r in never_closed][:5]} still "
                             "running after the job ended" if never_closed else "")
                          + (f"; ROWS ERASED: runs {erased[:5]} open at the kill are gone"
                             if erased else "")
                          + (f"; CLOSED AFTER THE KILL: runs "
                             f"{[(r['id'], r['status']) for r in odd][:5]}" if odd else ""))
    if not fault.visible and (fault.touched or not (ended or cut_before)):
        fault.diagnosis = _kill_diagnosis(fault, result, mine, open_ids)


def _t(x: datetime | None) -> str:
    return x.strftime("%H:%M:%S.%f") if x else "-"


def _row(r: dict[str, Any]) -> str:
    return (f"    run {r['id']:>5} target {r['target_id']:>5} {r['stage']:<12} att "
            f"{r['attempt']:>2} {r['status']:<11} {_t(r['started_at'])} -> "
            f"{_t(r['finished_at'])} {r['worker']} {str(r['error'] or '')[:90]}")


def _kill_diagnosis(fault: Fault, result: RunResult, mine: list[dict[str, Any]],
                    open_ids: set[int]) -> str:
    """Everything known about one kill: the driver's look, every run of the killed pid and of
    the aimed target, and the worker log's lines about that process."""
    tid = fault.target_ids[0] if fault.target_ids else None
    lines = [f"{fault.label} pid {fault.pid}: looked {_t(fault.looked_at)}, killed {_t(fault.at)}, "
             f"aimed at target {tid}; runs open at the look: {sorted(open_ids)}",
             f"  every run of pid {fault.pid}:", *(_row(r) for r in mine)]
    if tid is not None:
        lines += [f"  every run of target {tid}:", *(_row(r) for r in _runs_of(result, tid))]
    log = result.worker_log.splitlines()
    names = set(re.findall(rf"Process '([\w-]+)' pid:{fault.pid} ", result.worker_log))
    about = [ln for ln in log if f"pid:{fault.pid} " in ln
             or any(f"/{n}]" in ln for n in names)
             or (tid is not None and re.search(rf"\b{tid}\b", ln) and "target" in ln)]
    lines += [f"  worker.log about pid {fault.pid} ({', '.join(sorted(names)) or 'no name'}), "
              f"last {min(len(about), 25)} of {len(about)}:", *("    " + ln[:200]
                                                            for ln in about[-25:])]
    return "\n".join(lines)


def _postgres_evidence(fault: Fault, result: RunResult) -> None:
    """A PostgreSQL crash touches the attempts that were inside a catalog transaction (claim,
    commit, failure) or whose claim the restarted server forgot: each must show as a run
    `interrupted` (db/fault_log.py), failed on the catalog error, or lost. Two records that do
    not depend on task_runs say which attempts it touched: the runs the driver saw running at
    the crash (each must have a row of its worker's), and Celery's log line of every task
    that raised a catalog error (each must be named by an interrupted row, or by a lost one
    whose lease ran out first, or — its process SIGKILLed before it could name the task —
    be that pid's run lost after the crash). Runs that were computing outside any
    transaction through the outage commit after it: they were not touched, and when every run
    was like that the fault touched nothing and says so."""
    runs = result.runs
    assert fault.at is not None
    until = fault.until or fault.at
    alive = [r for r in runs if _between(r, fault.at, until, slack=0.0)]
    cut = [r for r in runs if r["status"] == INTERRUPTED and _between(r, fault.at, until, 60.0)]
    link = [r for r in runs if r["status"] == "failed" and _between(r, fault.at, until)
            and any(w in str(r["error"]) for w in LINK_WORDS)]
    lost = [r for r in alive if r["status"] == "lost"]
    evidence = cut + link + lost
    raised = {task: process for process, task in RAISED_ON_CATALOG.findall(result.worker_log)}
    named = " ".join(str(r["error"]) for r in runs if r["status"] in (INTERRUPTED, "lost"))
    # a task's process records its cut attempt after the task, once the catalog answers
    # (worker/app.py); a process SIGKILLed meanwhile (a kill-child fault landing in the wait)
    # cannot name the task, and its attempt's row ends `lost` when the lease runs out: that
    # lost row, of that pid, closed after the crash, is the attempt's record
    killed = {name: int(pid) for name, pid, how in POOL_EXIT.findall(result.worker_log)
              if "SIGKILL" in how}
    unrecorded, killed_first = [], []
    for task, process in sorted(raised.items()):
        if task in named:
            continue
        pid = killed.get(process)
        if pid is not None and any(
                _of_pid(r, pid) and r["status"] == "lost" and r["finished_at"] is not None
                and r["finished_at"] >= fault.at for r in runs):
            killed_first.append(task)
        else:
            unrecorded.append(task)
    erased = [(t, w) for t, w in fault.running
              if not any(r["target_id"] == t and r["worker"] == w for r in runs)]
    fault.touched = bool(evidence or raised or erased)
    fault.visible = bool(evidence) and not unrecorded and not erased
    done_after = [r for r in alive if r["status"] == "done"]
    if not fault.touched:
        fault.evidence = (f"touched nothing: {len(done_after)} runs computed through the "
                          "outage and committed after it")
        return
    fault.evidence = ((f"NOT RECORDED: tasks {unrecorded[:3]}; " if unrecorded else "")
                      + (f"ROWS ERASED: runs {erased[:3]}; " if erased else "")
                      + f"{len(cut)} interrupted, {len(link)} failed, {len(lost)} lost; "
                      f"{len(raised)} tasks raised on it (log)"
                      + (f", {len(killed_first)} of them killed before naming it (their runs "
                         "lost)" if killed_first else "")
                      + f"; {len(done_after)} committed after it"
                      + (f"; {str(evidence[0]['error'])[:70]}" if evidence else ""))
    if not fault.visible:
        log = result.worker_log.splitlines()
        lines = [f"{fault.label} at {_t(fault.at)} until {_t(until)}: running then "
                 f"{fault.running}; raised {sorted(raised.items())}; killed pool processes "
                 f"{killed}", "  runs alive in the outage, or interrupted, failed or lost "
                 "around it:"]
        lines += [_row(r) for r in runs if _between(r, fault.at, until, 60.0)
                  and (r in alive or r["status"] != "done")]
        for task in unrecorded:
            lines.append(f"  worker.log about task {task} and its process {raised[task]}:")
            lines += ["    " + ln[:200] for ln in log
                      if task in ln or f"/{raised[task]}]" in ln][-15:]
        fault.diagnosis = "\n".join(lines)


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

"""The end of `samplemill run`: how the job ended, what it made and where, each stage's counts,
what failed and the commands to look further."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from db.models import JobStatus
from db.render_plans import PLAN_KIND
from scheduler.commands.jobs import describe_status, print_failures
from scheduler.run import RunOutcome

SHOWN_FAILURES = 10


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def summary_lines(outcome: RunOutcome, job_file: Path | None = None) -> list[str]:
    """The summary as plain lines (the console adds colour)."""
    job = outcome.job_id
    failed = len(outcome.failures)
    if outcome.interrupted:
        head = f"job {job} stopped; `samplemill run {job_file or 'JOB_FILE'}` resumes it"
    else:
        took = f" in {_duration(outcome.seconds)}" if outcome.seconds else ""
        head = f"job {job}: {describe_status(outcome.status, failed)}{took}"
    lines = [head]
    if outcome.worker_restarts:
        lines.append(f"  local workers were started again {outcome.worker_restarts} time(s)")
    if outcome.progress is not None and outcome.progress.stages:
        counts = ", ".join(
            f"{s.stage} {s.done}/{s.total}" + "".join(
                f" ({n} {what})" for n, what in ((s.failed, "failed"), (s.blocked, "blocked"))
                if n)
            for s in outcome.progress.stages
        )
        lines.append(f"  {counts}")
    lines += [f"  {r.line()}" for r in outcome.renders]
    made = [a for a in outcome.artifacts if a.kind != PLAN_KIND]  # plans are working files
    if made:
        lines.append("  made:")
        width = max(len(a.name) for a in made)
        for a in made:
            extra = f" ({a.duration:.1f} s)" if a.duration else ""
            lines.append(f"    {a.name:<{width}}  {a.path}{extra}")
    elif not outcome.interrupted:
        lines.append("  made no files (see `samplemill query` for what the catalog holds)")
    if failed:
        lines.append(f"  {failed} failed: `samplemill failures {job}` lists them, "
                     f"`samplemill retry {job}` tries them again once fixed")
    if outcome.status == JobStatus.CANCELLED:
        lines.append(f"  cancelled: `samplemill resume {job}` carries on")
    return lines


def print_summary(outcome: RunOutcome, console: Console, *, job_file: Path | None = None) -> None:
    """Print the summary, and the first failures as a table."""
    style = {JobStatus.DONE: "green", JobStatus.PARTIAL: "yellow"}.get(outcome.status, "red")
    lines = summary_lines(outcome, job_file)
    console.print(f"[{style}]{lines[0]}[/{style}]", highlight=False)
    for line in lines[1:]:
        console.print(line, highlight=False, markup=False)
    if outcome.failures:
        print_failures(outcome.failures[:SHOWN_FAILURES], console)

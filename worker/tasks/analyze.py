"""Task `samplemill.analyze`: one file's audio cut into samples with features, stored in bulk
with the file's statistics, replacing any earlier analysis atomically."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import PermanentError
from db.models import File
from worker.app import app
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.analyze")
def analyze(target_id: int) -> str:
    return run_target(target_id, handle)


def analysis_params(table: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The job's [analyze] table as the analysis code's parameters."""
    from worker.analysis.params import AnalysisParams

    return AnalysisParams(
        sr=table.get("sr", 22050),
        method=table.get("method", "onset"),
        min_ms=table.get("min_ms", 80.0),
        max_ms=table.get("max_ms", 1000.0),
        delta=table.get("delta", 0.07),
        silence_threshold_db=table.get("silence_threshold_db", -40.0),
        silence_frame_ms=table.get("silence_frame_ms", 20.0),
        silence_min_gap_ms=table.get("silence_min_gap_ms", 250.0),
        max_samples=table.get("samples", -1),
    )


def keep_mask(rows: list[dict[str, Any]], expression: str) -> np.ndarray:
    """Which samples pass the job's pre-store filter (the query language, in memory)."""
    from db.query import compile_predicate

    predicate = compile_predicate(expression, "samples")
    return np.fromiter((bool(predicate(r)) for r in rows), dtype=bool, count=len(rows))


def handle(ctx: TargetContext) -> None:
    from db.bulk import replace_samples
    from worker.analysis import analyze_file, file_stats

    assert ctx.file is not None
    if not ctx.file.path:
        raise PermanentError(f"{ctx.file.key}: no local copy to analyse")
    table = analyze_file(ctx.file.path, analysis_params(ctx.params))
    if ctx.params.get("filter") and len(table):
        table = table.select(keep_mask(table.rows(), ctx.params["filter"]))
    stats = file_stats(table)
    columns = {
        "idx": np.arange(len(table)),
        "start": table.start,
        "dur": table.dur,
        "power": np.nan_to_num(table.power),
        "hz": np.nan_to_num(table.hz),
        "note": table.note,
        "octave": table.octave,
        "midi": np.nan_to_num(table.midi),
        "clarity": np.nan_to_num(table.clarity),
    }
    with ctx.commit() as session:
        replace_samples(
            session, job_id=ctx.job_id, file_id=ctx.file.id, columns=columns, vectors=table.vector
        )
        row = session.get(File, ctx.file.id)
        assert row is not None
        row.samples = stats["n_samples"]
        row.median_power = stats["median_power"]
        row.median_hz = stats["median_hz"]
        row.median_clarity = stats["median_clarity"]
        row.median_dur = stats["median_dur"]

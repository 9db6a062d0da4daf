"""Task `samplemill.analyze`: one file's audio cut into samples with features, stored in bulk
with the file's statistics, replacing any earlier analysis atomically."""

from __future__ import annotations

import numpy as np

from core.errors import PermanentError
from db.files import update_file
from worker.analysis.decode import counting_faults
from worker.analysis.params import AnalyzeParams
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.analyze")
def analyze(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: AnalyzeParams) -> None:
    from db.bulk import replace_samples
    from db.query import predicate_mask
    from db.subsets import job_subset_specs
    from worker.analysis import analyze_file, file_stats

    assert ctx.file is not None
    if not ctx.file.path:
        raise PermanentError(f"{ctx.file.key}: no local copy to analyse")
    with counting_faults() as faults:
        table = analyze_file(ctx.file.path, params)
    if params.filter and len(table):
        table = table.select(predicate_mask(table.rows(), params.filter))
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
        # Statistics first: the job's subset candidates, stored with the samples, are computed
        # for the file if it passes each subset's file filter (samples, medianPower, ...).
        update_file(session, ctx.file.id, samples=stats["n_samples"],
                    median_power=stats["median_power"], median_hz=stats["median_hz"],
                    median_clarity=stats["median_clarity"], median_dur=stats["median_dur"],
                    bad_packets=faults.bad_packets, nonfinite_samples=faults.nonfinite_samples)
        replace_samples(
            session, job_id=ctx.job_id, file_id=ctx.file.id, columns=columns,
            vectors=table.vector, subset_specs=job_subset_specs(ctx.spec),
        )

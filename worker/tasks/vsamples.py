"""Task `samplemill.vsamples`: the picture span of every grid member whose sample is in one
source file, from one sequential pass over the file, stored on the subset's members."""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError
from db.engine import session_scope
from worker.app import app
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target
from worker.vsamples.params import VsamplesParams


@app.task(name="samplemill.vsamples")
def vsamples(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: VsamplesParams) -> None:
    """Scan the film once, compute its members' spans, write them (same seed, same values).

    A film that cannot be decoded fails this target (the error is recorded against the file);
    its members keep no span and the render shows them over their sound's span.
    """
    from db.layouts import store_vspans, vsample_members
    from worker.pipeline import grid_subsets
    from worker.vsamples.film import vsample_film

    if ctx.file is None or not ctx.file.path:
        raise ConfigError(f"vsamples target {ctx.key} has no local file")
    with session_scope(ctx.engine) as session:
        members = vsample_members(session, ctx.job_id, grid_subsets(ctx.spec), ctx.file.id)
    if members:
        # a sample in two subsets gets the same span (it depends on the start alone)
        starts = np.array([m.start for m in members])
        durs = np.array([m.dur for m in members])
        vstart, vdur, _ = vsample_film(ctx.file.path, starts, durs, ctx.file.key,
                                       params.spans())
    else:
        vstart = vdur = np.empty(0)
    with ctx.commit() as session:
        store_vspans(session, members, vstart, vdur)

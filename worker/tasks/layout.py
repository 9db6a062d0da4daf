"""Task `samplemill.layout`: t-SNE order (1-D) and map (2-D) of a subset, then its grid."""

from __future__ import annotations

from db.engine import session_scope
from worker.app import app
from worker.layout.params import FEATURES, LayoutParams
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.layout")
def layout(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: LayoutParams) -> None:
    from db.artifacts import record_artifact
    from db.layouts import load_layout_inputs, store_layout
    from worker.layout.subset_layout import compute_layout
    from worker.render.layout_plot import plot_layout

    with session_scope(ctx.engine) as session:
        inputs = load_layout_inputs(session, ctx.job_id, params.subset, features=FEATURES,
                                    cache_dir=ctx.settings.data_dir / "cache" / "vectors")
    result = compute_layout(inputs.vectors, inputs.features, params)
    picture = ctx.output_path(f"layout-{params.subset}.png")
    plot_layout(result.xy, result.cells, inputs.features["hz"], picture, grid=params.grid_size,
                title=f"job {ctx.job_id}, subset {params.subset}")
    spec = params.model_dump(mode="json")
    with ctx.commit() as session:
        store_layout(session, inputs.subset_id, inputs.sample_ids, tsne=result.tsne,
                     xy=result.xy, cells=result.cells,
                     info={**result.info, "digest": inputs.digest, "params": spec})
        record_artifact(session, job_id=ctx.job_id, subset_id=inputs.subset_id,
                        kind="layout_plot", name=params.subset, path=picture, params=spec,
                        duration=None)

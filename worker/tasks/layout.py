"""Task `samplemill.layout`: t-SNE order (1-D) and map (2-D) of a subset, then its grid."""

from __future__ import annotations

from db.engine import session_scope
from worker.app import app
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.layout")
def layout(target_id: int) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext) -> None:
    from db.layouts import load_layout_inputs, record_artifact, store_layout
    from worker.layout.subset_layout import LayoutPlan, compute_layout
    from worker.render.layout_plot import plot_layout

    spec = next(s for s in ctx.spec.get("layout", []) if s["subset"] == ctx.key)
    with session_scope(ctx.engine) as session:
        inputs = load_layout_inputs(session, ctx.job_id, ctx.key,
                                    cache_dir=ctx.settings.data_dir / "cache" / "vectors")
    plan = LayoutPlan.from_spec(spec)
    result = compute_layout(inputs.vectors, inputs.features, plan)
    picture = ctx.settings.output_dir / f"job-{ctx.job_id}" / f"layout-{ctx.key}.png"
    plot_layout(result.xy, result.cells, inputs.features["hz"], picture, grid=plan.grid,
                title=f"job {ctx.job_id}, subset {ctx.key}")
    with ctx.commit() as session:
        store_layout(session, inputs.subset_id, inputs.sample_ids, tsne=result.tsne,
                     xy=result.xy, cells=result.cells,
                     info={**result.info, "digest": inputs.digest, "params": spec})
        record_artifact(session, job_id=ctx.job_id, subset_id=inputs.subset_id,
                        kind="layout_plot", name=ctx.key, path=picture, params=spec,
                        duration=None)

"""The `flow` render kind: every clip circles its cell in a diagonal wave while a bright ring
of clips plays as a timbral glide. params.py holds its parameters, compose.py the plan (pure),
swirl.py the circling it shares with poster; the handler, engine, cache, mix and chunks are
shared (worker/render/gridkind, engine, clipcache.py, mix/, gridvideo.py)."""

from worker.render.flow.compose import compose
from worker.render.flow.params import FlowParams
from worker.render.gridkind import register_grid_kind

register_grid_kind(
    "flow", FlowParams, compose,
    description="a grid video: clips circle their cells in a diagonal wave; a bright ring "
                "plays as a timbral glide",
)

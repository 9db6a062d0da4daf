"""The `proliferation` render kind: rings of clips light up from the centre of the grid
outward while the view zooms out. params.py holds its parameters, compose.py the plan (pure);
the handler, engine, cache, mix and chunks are shared (worker/render/gridkind, engine,
clipcache.py, mix/, gridvideo.py)."""

from worker.render.gridkind import register_grid_kind
from worker.render.proliferation.compose import compose
from worker.render.proliferation.params import ProliferationParams

register_grid_kind(
    "proliferation", ProliferationParams, compose,
    description="a grid video: rings of clips light up from the centre while the view zooms out",
)

"""The `stretch` render kind: middle-row clips grow into full-height strips from the centre
out while their sound replays, stretched ever longer. params.py holds its parameters,
compose.py the plan (pure), flashes.py the brightness flashes it shares with splice; the
handler, engine, cache, mix and chunks are shared (worker/render/gridkind, engine,
clipcache.py, mix/, gridvideo.py)."""

from worker.render.gridkind import register_grid_kind
from worker.render.stretch.compose import compose
from worker.render.stretch.params import StretchParams

register_grid_kind(
    "stretch", StretchParams, compose,
    description="a grid video: middle-row clips grow into full-height strips, their sound "
                "stretched ever longer",
)

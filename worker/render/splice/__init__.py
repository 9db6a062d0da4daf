"""The `splice` render kind: two playhead columns swept like arpeggios with stretched grains
while the picture's pixel rows shear sideways. params.py holds its parameters, compose.py the
plan (pure); the shear is the engine's (engine/shear.py); the handler, cache, mix and chunks
are shared (worker/render/gridkind, clipcache.py, mix/, gridvideo.py)."""

from worker.render.gridkind import register_grid_kind
from worker.render.splice.compose import compose
from worker.render.splice.params import SpliceParams

register_grid_kind(
    "splice", SpliceParams, compose,
    description="a grid video: two playhead columns swept with stretched grains while the "
                "picture's rows shear sideways",
)

"""The `falling` render kind: the camera falls through a wrapping grid, swaying; clips sound as
they are passed, then drop and tilt. params.py holds its parameters, compose.py the plan
(pure); the handler, engine, cache, mix and chunks are shared."""

from worker.render.falling.compose import compose
from worker.render.falling.params import FallingParams
from worker.render.gridkind import register_grid_kind

register_grid_kind(
    "falling", FallingParams, compose,
    description="a grid video: the camera falls through a wrapping grid, swaying; passed "
                "clips sound, drop and tilt",
)

"""The `waves` render kind: waves radiate from the centre of the grid, pushing clips outward,
growing and brightening them, while the view zooms in. params.py holds its parameters,
compose.py the plan (pure); the handler, engine, cache, mix and chunks are shared."""

from worker.render.gridkind import register_grid_kind
from worker.render.waves.compose import compose
from worker.render.waves.params import WavesParams

register_grid_kind(
    "waves", WavesParams, compose,
    description="a grid video: waves radiate from the centre, clips push out, grow and "
                "brighten while the view zooms in",
)

"""The `shuffle` render kind: an 8-step sequencer in the centre of the grid while rows and
columns slide like a sliding puzzle between rounds, then slide back. params.py holds its
parameters, compose.py the plan (pure); the handler, engine, cache, mix and chunks are
shared."""

from worker.render.gridkind import register_grid_kind
from worker.render.shuffle.compose import compose
from worker.render.shuffle.params import ShuffleParams

register_grid_kind(
    "shuffle", ShuffleParams, compose,
    description="a grid video: a step sequencer in the centre while rows and columns slide "
                "like a sliding puzzle between rounds, then slide back",
)

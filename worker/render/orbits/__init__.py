"""The `orbits` render kind: each square ring of the grid turns like a conveyor on a beat,
then reverses; clips sound at the play position. params.py holds its parameters, compose.py
the plan (pure); the handler, engine, cache, mix and chunks are shared."""

from worker.render.gridkind import register_grid_kind
from worker.render.orbits.compose import compose
from worker.render.orbits.params import OrbitsParams

register_grid_kind(
    "orbits", OrbitsParams, compose,
    description="a grid video: square rings turn like conveyors on a beat and reverse; "
                "clips sound as they pass the play position",
)

"""The `poster` render kind: one still frame of the flow swirl with a title drawn on top (PNG,
print resolution on request). params.py holds its parameters, compose.py the still (pure),
title.py the text, handler.py its own thin handler (one frame, no chunks, no mix)."""

from worker.render.gridkind import register_grid_kind
from worker.render.poster.compose import compose
from worker.render.poster.params import PosterParams

register_grid_kind(
    "poster", PosterParams, compose, handler="worker.render.poster.handler:handle",
    description="a still PNG: the flow swirl frozen and zoomed in, a title drawn on top",
)

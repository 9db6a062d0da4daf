"""The `proliferation` render kind: rings of clips light up from the centre of the grid
outward while the view zooms out. params.py holds its parameters and check, compose.py the
plan (pure), handler.py the thin task side; the engine, cache, mix and chunks are shared
(worker/render/engine, clipcache.py, mix/, gridvideo.py)."""

from core.render_kinds import RenderKind, register_kind
from worker.render.proliferation.params import ProliferationParams, check

register_kind(RenderKind(
    name="proliferation",
    params=ProliferationParams,
    handler="worker.render.proliferation.handler:handle",
    check=check,
    description="a grid video: rings of clips light up from the centre while the view zooms out",
))

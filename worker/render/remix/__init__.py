"""The `remix` render kind: a silence-split random remix of a subset's films. params.py holds
its parameters, silence.py / edits.py / render.py the pure code, handler.py the task side."""

from core.render_kinds import RenderKind, register_kind
from worker.render.remix.params import RemixParams

register_kind(RenderKind(
    name="remix",
    params=RemixParams,
    handler="worker.render.remix.handler:handle",
    description="the subset's films cut at silences into a seeded random remix (mp4)",
))

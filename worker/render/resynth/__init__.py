"""The `resynth` render kind: a target sound rebuilt from the frames of a subset's films
(concatenative synthesis). params.py holds its parameters and check; features.py, index.py,
match.py and render.py the pure code; stages.py the frame_features and frame_index stages it
waits for; handler.py the task side."""

from core.render_kinds import RenderKind, register_kind
from worker.render.resynth.params import ResynthParams, check

register_kind(RenderKind(
    name="resynth",
    params=ResynthParams,
    handler="worker.render.resynth.handler:handle",
    check=check,
    description="a target sound rebuilt from the subset's film frames (mp4)",
))

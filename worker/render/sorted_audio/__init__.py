"""The `sorted_audio` render kind: a subset's samples in a chosen order, overlapped, faded and
loudness-matched into one audio file. params.py holds its parameters and cross-table check,
renderer.py the pure code, handler.py the thin task side."""

from core.render_kinds import RenderKind, register_kind
from worker.render.sorted_audio.params import SortedAudioParams, check

register_kind(RenderKind(
    name="sorted_audio",
    params=SortedAudioParams,
    handler="worker.render.sorted_audio.handler:handle",
    check=check,
    description="the subset's samples in order, overlapped, into one wav/flac/mp3",
))

"""The `sorted_audio` render's parameters (a job's `[[render]] kind = "sorted_audio"` table, or
`samplemill sort-audio`'s options) and its check against the rest of the job."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.errors import ConfigError
from core.render_kinds import MEMBER_VALUES, RenderParams
from worker.layout.ranking import parse_sort
from worker.render.members import MemberSort

LAYOUT_VALUES = ("tsne", "x", "y")  # what only a [[layout]] of the subset gives


class SortedAudioParams(RenderParams):
    """How a subset's samples are ordered and joined: sort, overlap, fades, loudness, padding."""

    kind: Literal["sorted_audio"] = "sorted_audio"
    sort: MemberSort = Field("tsne=asc",
                             description=f"{'|'.join(MEMBER_VALUES)} = asc|desc, by &.")
    format: Literal["wav", "flac", "mp3"] = "wav"
    sr: int = Field(44100, ge=8000, le=192000, description="Output sample rate.")
    channels: Literal[1, 2] = 2
    overlap_ms: float = Field(128.0, ge=0, description="Between neighbours; at most half of "
                              "either clip.")
    fade_ms: float = Field(10.0, ge=0, description="Linear fade in and out of every clip; at "
                           "most half the clip.")
    pad_before_ms: float = Field(500.0, ge=0)
    pad_after_ms: float = Field(2000.0, ge=0)
    match_db: float | None = Field(-16.0, le=0, description="Each clip's RMS (dBFS) is set to "
                                   "this; None keeps levels.")
    volume: float = Field(0.6, gt=0, le=1.0)
    limit: int | None = Field(None, ge=1, description="Most samples in the output.")


def check(params: SortedAudioParams, spec: dict[str, Any]) -> None:
    """Sorting by the layout (tsne, x, y) needs a [[layout]] of the same subset."""
    laid_out = {entry.get("subset") for entry in spec.get("layout", [])}
    for key, _ in parse_sort(params.sort, MEMBER_VALUES):
        if key in LAYOUT_VALUES and params.subset not in laid_out:
            raise ConfigError(
                f"sort: sorting by {key} needs a [[layout]] for subset {params.subset!r}"
            )

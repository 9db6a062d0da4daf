"""The picture stages: `frames` (per video file, cpu), `loops` (per file, after frames),
`duplicates` (per job) and `frame_map` (per [[frame_map]] entry). Declarations only; the
tasks live in worker/tasks/<stage>.py and the pure code in worker/frames/."""

from __future__ import annotations

from typing import Any

from core.stages import Stage
from worker.frames.params import (
    DuplicatesParams,
    FrameMapStageParams,
    FramesParams,
    LoopsParams,
)

PICTURE_TABLES = ("frames", "loops", "duplicates", "frame_map")


def _any(*tables: str):  # type: ignore[no-untyped-def]
    return lambda spec: any(t in spec for t in tables)


def _no_video(f: Any) -> Any:
    return f.has_video.is_not(True)


STAGES = [
    Stage(name="frames", queue="cpu", scope="file", order=32, task_name="samplemill.frames",
          params=FramesParams, table="frames", enabled=_any(*PICTURE_TABLES),
          skip_when=_no_video,
          description="per-frame pHash, dHash, colour, luma and thumbnails, stored per file"),
    Stage(name="loops", queue="cpu", scope="file", order=33, task_name="samplemill.loops",
          params=LoopsParams, table="loops", enabled=_any("loops"), skip_when=_no_video,
          description="stretches of a file's picture shown again later in it"),
    Stage(name="duplicates", queue="cpu", scope="job", order=44,
          task_name="samplemill.duplicates", params=DuplicatesParams, table="duplicates",
          enabled=_any("duplicates"),
          description="stretches of one file's picture shown in another"),
    Stage(name="frame_map", queue="cpu", scope="job", order=46, task_name="samplemill.frame_map",
          params=FrameMapStageParams, table="frame_map", many=True, key_field="name",
          enabled=_any("frame_map"), description="frames in 2-D: JSON, sprites and a picture"),
]

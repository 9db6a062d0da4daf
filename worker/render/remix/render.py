"""Render a remix: plan (silences, seeded edit list), then cut picture and sound into an mp4.

Picture is frame-accurate: each edit's frames are decoded in output order (one seek per edit,
then sequential decoding) and re-encoded to H.264; sound is cut at the same frame boundaries
and joined with short crossfades, so sound and picture stay in sync to the sample.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from core.errors import MediaError
from worker.analysis.decode import SegmentReader
from worker.render.cutlist.audio import CrossfadeJoiner
from worker.render.cutlist.encode import AVWriter
from worker.render.cutlist.fetch import VideoInfo, open_video, probe_video
from worker.render.remix.edits import Segment, edit_list, frame_segments
from worker.render.remix.params import RemixParams
from worker.render.remix.silence import SilenceCuts, find_cuts


@dataclass(frozen=True)
class RemixPlan:
    """What to render: the films, their video streams and cuts, and the edit list."""

    films: tuple[Path, ...]
    videos: tuple[VideoInfo, ...]
    cuts: tuple[SilenceCuts, ...]
    edits: tuple[Segment, ...]
    seconds: float = 0.0  # time spent planning (decoding audio, searching silences)

    @property
    def fps(self) -> Fraction:
        """Output frame rate: the first film's."""
        return self.videos[0].fps

    def output_frames(self) -> np.ndarray:
        """Output frame at which each edit starts, plus the total (len(edits) + 1 values)."""
        t = np.concatenate([[0.0], np.cumsum([e.dur_s for e in self.edits])])
        return np.round(t * float(self.fps) + 1e-9).astype(np.int64)

    def edit_rows(self) -> list[dict[str, float | int | str]]:
        """The edit list for people and artifacts: film, source start and length (s), frames."""
        starts = self.output_frames()
        return [{"film": str(self.films[e.film]), "source_start": round(e.start_s, 6),
                 "dur": round(e.dur_s, 6), "source_frame": e.start, "frames": e.frames,
                 "out_frame": int(starts[i])} for i, e in enumerate(self.edits)]


@dataclass(frozen=True)
class RemixResult:
    """What was written and how long each part took."""

    path: Path
    plan: RemixPlan
    frames: int
    duration_s: float
    plan_seconds: float
    encode_seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def plan_remix(films: Sequence[Path], params: RemixParams) -> RemixPlan:
    """Search each film's silences and draw the seeded edit list."""
    if not films:
        raise MediaError("remix needs at least one film")
    t0 = time.perf_counter()
    videos, cuts, segments = [], [], []
    for i, path in enumerate(films):
        info = probe_video(path)
        found = find_cuts(path, window_ms=params.window_ms, min_sound_ms=params.min_sound_ms,
                          relative_db=params.threshold_db, absolute=params.absolute_threshold)
        videos.append(info)
        cuts.append(found)
        segments.append(frame_segments(i, found.cuts, info.frames, info.fps))
    edits = edit_list(segments, params.duration, params.seed, params.no_repeat)
    return RemixPlan(tuple(Path(f) for f in films), tuple(videos), tuple(cuts), tuple(edits),
                     time.perf_counter() - t0)


def _source_frames(edit: Segment, n_out: int, out_fps: Fraction) -> np.ndarray:
    """Source frame shown at each of an edit's n_out output frames (same rate: one to one)."""
    j = np.arange(n_out, dtype=np.float64)
    idx = edit.start + np.floor((j + 0.5) * float(edit.fps / out_fps)).astype(np.int64)
    return np.clip(idx, edit.start, edit.start + edit.frames - 1)


def write_remix(plan: RemixPlan, out: Path, params: RemixParams) -> RemixResult:
    """Cut the planned edits from their films into `out` (mp4, H.264 + AAC)."""
    t0 = time.perf_counter()
    first = plan.videos[0]
    w = params.width or first.width
    h = params.height or first.height
    size = (w - w % 2, h - h % 2)
    fps, sr = plan.fps, params.sr
    starts = plan.output_frames()
    bounds = [round(int(f) * sr / fps) for f in starts]  # audio sample of each edit start
    xfade = round(params.crossfade_ms * sr / 1000.0)
    joiner = CrossfadeJoiner(2, xfade)
    sources = [open_video(f) for f in plan.films]
    readers = [SegmentReader(f, sr=sr, channels=2) for f in plan.films]
    try:
        with AVWriter(out, fps=fps, size=size, sr=sr, crf=params.crf,
                      preset=params.preset) as writer:
            for k, edit in enumerate(plan.edits):
                n_out = int(starts[k + 1] - starts[k])
                wanted = _source_frames(edit, n_out, fps)
                for _, frame in sources[edit.film].frames(wanted):
                    writer.write_frame(frame)
                length = bounds[k + 1] - bounds[k]
                extra = xfade if k + 1 < len(plan.edits) else 0
                audio = readers[edit.film].read(edit.start_s, (length + extra) / sr)
                writer.write_audio(joiner.add(audio, length))
            frames = writer.frames
    finally:
        for s in sources:
            s.close()
        for r in readers:
            r.close()
    dur = float(frames / fps)
    return RemixResult(Path(out), plan, frames, dur, plan.seconds, time.perf_counter() - t0)


def render_remix(films: Sequence[Path], out: Path, params: RemixParams) -> RemixResult:
    """Plan and write a remix of `films` (the first gives the frame, the head and the tail)."""
    plan = plan_remix(films, params)
    return write_remix(plan, out, params)

"""Render a resynthesis: match the target's frames, fetch the chosen source frames, encode.

Frames are fetched file by file in increasing order, as runs of consecutive frames (a seek only
across a big gap, never one per frame), into a memory-mapped store at the output size; the
output is then written in target order with the chosen sound.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import MediaError
from worker.analysis.decode import SegmentReader
from worker.render.cutlist.audio import CrossfadeJoiner
from worker.render.cutlist.encode import AVWriter
from worker.render.cutlist.fetch import open_video, probe_video
from worker.render.resynth.features import FrameFeatures, frame_features
from worker.render.resynth.index import FrameIndex
from worker.render.resynth.match import Match, jump_cost, viterbi
from worker.render.resynth.params import ResynthParams


@dataclass(frozen=True)
class ResynthResult:
    """What was written, the picks (file number, frame per target frame) and the timings."""

    path: Path
    files: np.ndarray
    frames: np.ndarray
    match: Match
    duration_s: float
    timings: dict[str, float] = field(default_factory=dict)

    def run_list(self) -> list[tuple[int, int, int]]:
        """(file number, first frame, length) of each run of consecutive frames, in order."""
        out: list[tuple[int, int, int]] = []
        for f, fr in zip(self.files.tolist(), self.frames.tolist(), strict=True):
            if out and out[-1][0] == f and out[-1][1] + out[-1][2] == fr:
                out[-1] = (f, out[-1][1], out[-1][2] + 1)
            else:
                out.append((f, fr, 1))
        return out


def match_target(target: FrameFeatures, index: FrameIndex, params: ResynthParams) -> Match:
    """Pick a source row for every target frame (k-NN search, then Viterbi per block)."""
    t0 = time.perf_counter()
    index.nprobe = params.nprobe
    q = np.ascontiguousarray(target.feats, np.float32)
    d, i = index.search(q, params.k)
    searched = time.perf_counter() - t0
    if params.continuity == 0:
        return Match(i[:, 0], d[:, 0], 0.0, searched)
    jump = jump_cost(d, params.continuity)
    rows, dists = viterbi(index, q, d, i, jump=jump, block=params.block)
    return Match(rows, dists, jump, time.perf_counter() - t0)


def fetch_frames(paths: Sequence[Path], files: np.ndarray, frames: np.ndarray,
                 size: tuple[int, int], store: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode every needed frame once, file by file in order, into a memmap of yuv420p.

    Returns the store (n_unique, h * 3 / 2, w) and, per target frame, its slot in it.
    """
    w, h = size
    keys = files.astype(np.int64) * (1 << 40) + frames.astype(np.int64)
    unique, slot_of = np.unique(keys, return_inverse=True)
    mem = np.lib.format.open_memmap(store, mode="w+", dtype=np.uint8,
                                    shape=(max(1, unique.size), h * 3 // 2, w))
    ufile, uframe = unique >> 40, unique & ((1 << 40) - 1)
    for f in np.unique(ufile):
        sel = np.flatnonzero(ufile == f)
        with open_video(paths[int(f)]) as src:
            for slot, (_, frame) in zip(sel, src.frames(uframe[sel]), strict=True):
                mem[slot] = frame.reformat(width=w, height=h, format="yuv420p").to_ndarray()
    return mem, slot_of


def _runs_audio(paths: Sequence[Path], runs: list[tuple[int, int, int]], fps_src: list,
                out_fps: float, sr: int, xfade: int):  # type: ignore[no-untyped-def]
    """Yield each run's source audio, crossfaded with its neighbours, in output order."""
    joiner = CrossfadeJoiner(2, xfade)
    readers: dict[int, SegmentReader] = {}
    try:
        done = 0
        for k, (f, first, n) in enumerate(runs):
            if f not in readers:
                readers[f] = SegmentReader(paths[f], sr=sr, channels=2)
            a = round(done * sr / out_fps)
            done += n
            length = round(done * sr / out_fps) - a
            extra = xfade if k + 1 < len(runs) else 0
            start = float(first / fps_src[f])
            yield joiner.add(readers[f].read(start, (length + extra) / sr), length)
    finally:
        for r in readers.values():
            r.close()


def render_resynth(target: Path, index: FrameIndex, sources: Sequence[Path], out: Path,
                   params: ResynthParams) -> ResynthResult:
    """Rebuild `target`'s sound from the indexed frames of `sources` into `out` (mp4)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    feats = frame_features(target, fps=None if _has_video(target) else params.fps)
    timings["target_features"] = time.perf_counter() - t0
    if feats.frames == 0:
        raise MediaError(f"{target}: no frames of sound to rebuild")
    if index.offsets.size - 1 != len(sources):
        raise MediaError(f"the index holds {index.offsets.size - 1} files, "
                         f"{len(sources)} were given")
    match = match_target(feats, index, params)
    timings["search"] = match.search_seconds
    files, frames = index.locate(match.rows)
    t1 = time.perf_counter()
    infos = {int(f): probe_video(sources[int(f)]) for f in np.unique(files)}
    first = infos[int(files[0])]
    w, h = params.width or first.width, params.height or first.height
    size = (w - w % 2, h - h % 2)
    result = ResynthResult(Path(out), files, frames, match, float(feats.frames / feats.fps))
    with tempfile.TemporaryDirectory(dir=Path(out).parent, prefix=".resynth-") as tmp:
        store, slots = fetch_frames(sources, files, frames, size, Path(tmp) / "frames.npy")
        timings["fetch"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        _write(result, store, slots, sources, infos, target, feats, size, params)
        timings["encode"] = time.perf_counter() - t2
    result.timings.update(timings)
    return result


def _has_video(path: Path) -> bool:
    """Whether a file has a video stream."""
    import av

    try:
        with av.open(str(path)) as c:
            return bool(c.streams.video)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot open {path}: {exc}") from exc


def _write(result: ResynthResult, store: np.ndarray, slots: np.ndarray,
           sources: Sequence[Path], infos: dict, target: Path, feats: FrameFeatures,
           size: tuple[int, int], params: ResynthParams) -> None:
    """Encode the chosen frames in target order with the chosen sound, block by block."""
    import av

    sr, fps = params.sr, feats.fps
    n = slots.size
    runs = result.run_list()
    fps_src = {f: infos[f].fps for f in infos}
    source_audio = None
    if params.audio in ("source", "mix"):
        source_audio = _runs_audio(sources, runs, fps_src, float(fps), sr,
                                   round(params.crossfade_ms * sr / 1000))
    reader = SegmentReader(target, sr=sr, channels=2) if params.audio != "source" else None
    pending = np.zeros((2, 0), np.float32)
    next_run = 0
    g_t = 10 ** (params.mix_target_db / 20) if params.audio == "mix" else 1.0
    g_s = 10 ** (params.mix_source_db / 20) if params.audio == "mix" else 1.0
    try:
        with AVWriter(result.path, fps=fps, size=size, sr=sr, crf=params.crf,
                      preset=params.preset) as writer:
            step = max(1, round(float(fps)))  # one second of frames per block
            for b0 in range(0, n, step):
                b1 = min(n, b0 + step)
                for j in range(b0, b1):
                    writer.write_frame(av.VideoFrame.from_ndarray(store[slots[j]],
                                                                  format="yuv420p"))
                a0, a1 = round(b0 * sr / fps), round(b1 * sr / fps)
                block = np.zeros((2, a1 - a0), np.float32)
                if reader is not None:
                    block += g_t * reader.read(a0 / sr, (a1 - a0) / sr)
                if source_audio is not None:
                    while pending.shape[1] < a1 - a0 and next_run < len(runs):
                        pending = np.concatenate([pending, next(source_audio)], axis=1)
                        next_run += 1
                    take = pending[:, : a1 - a0]
                    block[:, : take.shape[1]] += g_s * take
                    pending = pending[:, a1 - a0 :]
                writer.write_audio(block)
    finally:
        if reader is not None:
            reader.close()

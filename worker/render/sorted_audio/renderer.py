"""Sorted audio: samples read from their source media and concatenated in a given order (pure).

Each clip is read with read_segment (only its span is decoded), loudness-matched, faded in and
out and overlapped with the next; output is streamed clip by clip, keeping only the overlap.
Timing is in whole samples, so expected_duration_ms gives the output length exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import MediaError, SamplemillError
from worker.analysis.decode import read_segment
from worker.render.sorted_audio.params import SortedAudioParams
from worker.render.writers import AudioWriter

SILENT_DB = -80.0  # clips quieter than this are left as they are, not boosted
MAX_GAIN_DB = 30.0


@dataclass(frozen=True)
class Clip:
    """One sample: its source media file and its span in milliseconds."""

    path: Path
    start_ms: float
    dur_ms: float


@dataclass(frozen=True)
class RenderResult:
    """What was written: the file, its duration and how many clips (and which failed)."""

    path: Path
    duration_s: float
    clips: int
    failed: tuple[int, ...] = field(default=())


def _ms(ms: float, sr: int) -> int:
    """Milliseconds to whole samples."""
    return round(ms * sr / 1000.0)


def _timeline(clips: Sequence[Clip], p: SortedAudioParams) -> tuple[list[int], list[int], int]:
    """Return each clip's start and length in samples and the total length, padding included."""
    lengths = [_ms(c.dur_ms, p.sr) for c in clips]
    ov = _ms(p.overlap_ms, p.sr)
    starts, t = [], _ms(p.pad_before_ms, p.sr)
    for i, n in enumerate(lengths):
        if i:
            t -= min(ov, lengths[i - 1] // 2, n // 2)
        starts.append(t)
        t += n
    return starts, lengths, t + _ms(p.pad_after_ms, p.sr)


def _check_clips(clips: Sequence[Clip]) -> None:
    """Raise a clear error for an empty list or a bad span."""
    if not clips:
        raise SamplemillError("no clips to render")
    for i, c in enumerate(clips):
        if not (c.start_ms >= 0 and c.dur_ms > 0):
            raise SamplemillError(f"clip {i} ({c.path}) has a bad span: {c.start_ms}+{c.dur_ms} ms")


def expected_duration_ms(clips: Sequence[Clip], params: SortedAudioParams | None = None) -> float:
    """Duration of render_sorted_audio's output for these clips, in milliseconds (exact)."""
    p = params or SortedAudioParams()
    if not clips:
        return 0.0
    return _timeline(clips, p)[2] * 1000.0 / p.sr


def shape_clip(audio: np.ndarray, p: SortedAudioParams) -> np.ndarray:
    """Loudness-match, scale by volume and fade a (channels, n) clip."""
    y = audio.astype(np.float32, copy=True)
    if p.match_db is not None:
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
        db = 20.0 * np.log10(rms) if rms > 0 else -np.inf
        if db > SILENT_DB:
            y *= np.float32(10.0 ** (min(p.match_db - db, MAX_GAIN_DB) / 20.0))
    y *= np.float32(p.volume)
    n = y.shape[1]
    f = min(_ms(p.fade_ms, p.sr), n // 2)
    if f > 0:
        ramp = np.linspace(0.0, 1.0, f, endpoint=False, dtype=np.float32) + np.float32(0.5 / f)
        y[:, :f] *= ramp
        y[:, n - f :] *= ramp[::-1]
    return y


def _read(clip: Clip, n: int, p: SortedAudioParams) -> np.ndarray:
    """Decode exactly n samples of the clip as (channels, n) float32."""
    a = read_segment(
        clip.path, clip.start_ms / 1000.0, clip.dur_ms / 1000.0, sr=p.sr, channels=p.channels
    )
    a = a.reshape(p.channels, -1)
    if a.shape[1] != n:
        a = np.pad(a, ((0, 0), (0, max(0, n - a.shape[1]))))[:, :n]
    return a


def render_sorted_audio(
    clips: Sequence[Clip],
    out: Path,
    params: SortedAudioParams | None = None,
    *,
    on_error: Literal["raise", "silence"] = "raise",
) -> RenderResult:
    """Write the clips, in the order given, to out (.wav/.flac/.mp3) and return what was written.

    A clip that fails to decode raises a MediaError, or with on_error="silence" becomes
    silence and is listed in the result's `failed`.
    """
    p = params or SortedAudioParams()
    _check_clips(clips)
    starts, lengths, total = _timeline(clips, p)
    failed: list[int] = []
    with AudioWriter(Path(out), p.sr, p.channels) as writer:
        pending = np.zeros((p.channels, 0), dtype=np.float32)  # mixed, not yet written
        pos = 0  # output position of pending[:, 0]
        for i, (clip, t, n) in enumerate(zip(clips, starts, lengths, strict=True)):
            try:
                audio = shape_clip(_read(clip, n, p), p)
            except (MediaError, OSError, ValueError) as exc:
                if on_error == "raise":
                    raise MediaError(f"clip {i} ({clip.path}): {exc}") from exc
                failed.append(i)
                audio = np.zeros((p.channels, n), dtype=np.float32)
            final = t - pos  # everything before this clip's start is complete
            if final > pending.shape[1]:
                pending = np.pad(pending, ((0, 0), (0, final - pending.shape[1])))
            writer.write(pending[:, :final])
            pending, pos = pending[:, final:], t
            tail = np.zeros((p.channels, max(n, pending.shape[1])), dtype=np.float32)
            tail[:, : pending.shape[1]] = pending
            tail[:, :n] += audio
            pending = tail
        writer.write(pending)
        writer.write(np.zeros((p.channels, total - pos - pending.shape[1]), dtype=np.float32))
    return RenderResult(Path(out), total / p.sr, len(clips), tuple(failed))

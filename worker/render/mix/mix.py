"""Mix every play of a composition into one float32 stereo track at a target loudness.

Plays are mixed source file by source file (each file opened once, its clips read in time
order), each clip's plays rendered through a cache keyed by (clip, effects) and added into one
buffer at their sample positions: no copy of the whole track per play, as the reference made.
Then the whole mix is set to the target integrated loudness (ITU-R BS.1770 via pyloudnorm)
and passed through the true-peak limiter, repeated until both hold. A clip whose source
cannot be decoded is silent and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import ConfigError, MediaError
from worker.render.mix.effects import PlayFx, RenderCache, StretchCache, finish, stretched
from worker.render.mix.laws import db_gain
from worker.render.mix.limiter import limit, true_peak
from worker.render.mix.plays import Plays

SR = 48_000


@dataclass(frozen=True)
class MixParams:
    """Output rate, target loudness (LUFS) and true-peak ceiling (dBTP)."""

    sr: int = SR
    loudness: float = -16.0
    ceiling_db: float = -1.0
    tolerance_lu: float = 0.3  # normalise again until within this of the target

    def __post_init__(self) -> None:
        """Reject settings that cannot be met."""
        if self.sr < 8000 or not -70 < self.loudness < 0 or not -20 <= self.ceiling_db <= 0:
            raise ConfigError("mix needs sr ≥ 8000, loudness in (-70, 0) LUFS and a ceiling "
                              "in [-20, 0] dBTP")


@dataclass(frozen=True)
class ClipSounds:
    """Where each clip's sound is: source file index and span (ms)."""

    source: np.ndarray
    start_ms: np.ndarray
    dur_ms: np.ndarray
    sources: Sequence[str]


@dataclass
class MixResult:
    """The mixed (2, n) float32 audio and what was measured and skipped."""

    audio: np.ndarray
    loudness: float
    true_peak_db: float
    failed_clips: list[int] = field(default_factory=list)
    plays: int = 0
    renders: int = 0  # distinct (clip, effects) renders; plays - renders were cache hits
    stretches: int = 0  # distinct (clip, level, reverse, factor, method) time-stretches


def _open_reader(path: str, sr: int):
    """A SegmentReader on path: stereo at sr."""
    from worker.analysis.decode import SegmentReader

    return SegmentReader(path, sr=sr, channels=2)


def loudness_lufs(audio: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) of (2, n) audio; -inf for silence or under 400 ms."""
    import pyloudnorm

    if audio.shape[-1] < int(0.4 * sr):
        return float("-inf")
    return float(pyloudnorm.Meter(sr).integrated_loudness(audio.T.astype(np.float64)))


def master(audio: np.ndarray, p: MixParams) -> tuple[np.ndarray, float, float]:
    """Normalise to p.loudness and true-peak limit at p.ceiling_db; (audio, LUFS, dBTP).

    Limiting lowers the loudness of a peaky mix, so the gain is corrected and the limiter run
    again (from the unlimited mix) until the result is within tolerance of the target.
    """
    measured = loudness_lufs(audio, p.sr)
    if not np.isfinite(measured):
        out = limit(audio, p.sr, p.ceiling_db)
        return out, measured, _db(true_peak(out))
    gain_db = p.loudness - measured
    out = audio
    for _ in range(6):
        out = limit(audio * np.float32(db_gain(gain_db)), p.sr, p.ceiling_db)
        if true_peak(out) > db_gain(p.ceiling_db):  # rare inter-sample overshoot: once more
            out = limit(out, p.sr, p.ceiling_db - 0.1)
        got = loudness_lufs(out, p.sr)
        if abs(got - p.loudness) <= p.tolerance_lu:
            break
        gain_db += p.loudness - got
    return out, got, _db(true_peak(out))


def _db(x: float) -> float:
    return 20.0 * float(np.log10(x)) if x > 0 else float("-inf")


def mix_plays(plays: Plays, clips: ClipSounds, duration_s: float, params: MixParams | None = None,
              *, open_reader: Callable[[str, int], object] = _open_reader,
              cache: RenderCache | None = None,
              stretch_cache: StretchCache | None = None) -> MixResult:
    """Mix the plays into a (2, round(duration_s·sr)) track, mastered (see module doc)."""
    p = params or MixParams()
    sr = p.sr
    out = np.zeros((2, round(duration_s * sr)), dtype=np.float32)
    cache = cache or RenderCache()
    stretches = stretch_cache or StretchCache()
    failed: list[int] = []
    if len(plays):
        play_clips = np.unique(plays.clip)
        order = play_clips[np.lexsort((clips.start_ms[play_clips], clips.source[play_clips]))]
        by_clip = {int(c): np.flatnonzero(plays.clip == c) for c in play_clips}
        current, reader = None, None
        try:
            for c in order:
                c = int(c)
                src = int(clips.source[c])
                if src != current:
                    if reader is not None:
                        reader.close()
                        reader = None
                    current = src
                    try:
                        reader = open_reader(clips.sources[src], sr)
                    except (MediaError, OSError, ValueError):
                        reader = None
                if reader is None:
                    failed.append(c)
                    continue
                try:
                    sound = reader.read(clips.start_ms[c] / 1000.0, clips.dur_ms[c] / 1000.0)
                except (MediaError, OSError, ValueError):
                    failed.append(c)
                    continue
                sound = np.asarray(sound, dtype=np.float32).reshape(2, -1)
                for i in by_clip[c]:
                    fx = PlayFx(float(plays.match_db[i]), float(plays.max_db[i]),
                                bool(plays.reverse[i]), float(plays.stretch[i]),
                                float(plays.fade_in_ms[i]), float(plays.fade_out_ms[i]),
                                float(plays.pan[i]), float(plays.reverb[i]), plays.method(i),
                                float(plays.length_ms[i]))
                    rendered = cache.get(c, fx, lambda s=sound, f=fx, c=c: finish(
                        stretches.get(c, f, lambda: stretched(s, sr, f)), sr, f))
                    _add(out, rendered, round(plays.t_ms[i] * sr / 1000.0),
                         np.float32(plays.volume[i]))
        finally:
            if reader is not None:
                reader.close()
    audio, lufs, tp = master(out, p)
    return MixResult(audio, lufs, tp, sorted(failed), len(plays), cache.misses,
                     stretches.misses)


def _add(out: np.ndarray, sound: np.ndarray, at: int, volume: np.float32) -> None:
    """Add sound × volume into out starting at sample `at` (parts outside are dropped)."""
    n = out.shape[1]
    a, b = max(at, 0), min(at + sound.shape[1], n)
    if a < b and volume != 0:
        out[:, a:b] += sound[:, a - at : b - at] * volume

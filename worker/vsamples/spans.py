"""From each audio sample to the span of picture its grid cell loops (vstart, vdur in ms).

As the reference (media-tools-renders.md §1): a sample shorter than the target is extended to
the smallest whole multiple of itself reaching target_ms (so a loop of the picture lines up
with repeats of the sound), plus a random 0..var_ms; a cut inside the first min_ms moves the
start after it, the next cut after that ends the span; a span cut shorter than one the window
held before is swapped for the longer one. Unlike the reference, the random extra is seeded by
(seed, file key, sample start), so it never changes between runs or collides across files,
and no span runs past the end of the picture.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError


@dataclass(frozen=True)
class SpanParams:
    """The reference's flags: -tdur, -vdur, -mdur (ms), and the seed."""

    target_ms: float = 1200.0
    var_ms: int = 400
    min_ms: float = 256.0
    seed: int = 1

    def __post_init__(self) -> None:
        """Reject settings that cannot give a span."""
        if self.target_ms <= 0 or self.var_ms < 0 or self.min_ms < 0:
            raise ConfigError("vsamples needs target_ms > 0, var_ms ≥ 0 and min_ms ≥ 0")


def jitter(file_key: str, starts_ms: np.ndarray, p: SpanParams) -> np.ndarray:
    """A reproducible random 0..var_ms per sample, from (seed, file key, sample start)."""
    out = np.empty(starts_ms.size, dtype=np.int64)
    base = hashlib.sha256(f"{p.seed}:{file_key}".encode()).digest()
    for i, s in enumerate(np.round(starts_ms).astype(np.int64)):
        h = hashlib.blake2b(int(s).to_bytes(8, "little", signed=True), key=base[:32],
                            digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") % (p.var_ms + 1)
    return out


def window_ms(dur_ms: np.ndarray, target_ms: float) -> np.ndarray:
    """The analysis length: dur if longer than the target, else its smallest multiple ≥ it."""
    dur = np.asarray(dur_ms, dtype=np.float64)
    if (dur <= 0).any():
        raise ConfigError("every sample needs a duration > 0")
    reps = np.ceil(target_ms / dur)
    return np.where(dur > target_ms, dur, reps * dur)


def picture_spans(starts_ms: np.ndarray, durs_ms: np.ndarray, cuts_ms: np.ndarray,
                  duration_ms: float, file_key: str,
                  p: SpanParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(vstart, vdur) integer ms for each sample of one file, given the file's cuts."""
    p = p or SpanParams()
    starts = np.asarray(starts_ms, dtype=np.float64)
    ends = starts + window_ms(durs_ms, p.target_ms) + jitter(file_key, starts, p)
    if math.isfinite(duration_ms) and duration_ms > 0:
        ends = np.minimum(ends, duration_ms)
    cuts = np.sort(np.asarray(cuts_ms, dtype=np.float64))
    vstart = np.empty(starts.size, dtype=np.int64)
    vdur = np.empty(starts.size, dtype=np.int64)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        lo, hi = np.searchsorted(cuts, [a, b], side="right")
        new_start, new_end = a, b
        best = (a, a)
        for c in cuts[lo:hi]:
            if c - new_start < p.min_ms:
                if c - new_start > best[1] - best[0]:
                    best = (new_start, c)
                new_start = c  # a short break: start after the cut
            else:
                new_end = c  # the shot ends here
                break
        if best[1] - best[0] > new_end - new_start:
            new_start, new_end = best
        vstart[i] = round(new_start)
        vdur[i] = max(1, round(new_end - new_start))
    return vstart, vdur

"""Brightness flashes as keyframes: a clip brightens to `hi` over a share of a flash, then
settles back to `lo` ("sin" easing both ways, as the reference's tweens), for many flashes of
many clips at once. A flash that starts before the previous one of its clip has settled takes
over from the brightness it has reached, so a clip's keys stay in time order with no jump."""

from __future__ import annotations

import numpy as np

from worker.render.engine.easing import ease_id, ease_name
from worker.render.engine.tracks import Track


def bell(u: np.ndarray | float) -> np.ndarray:
    """0 → 1 → 0 over u in [0, 1], a raised cosine: the reference's easeSinInOutBell."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return (1.0 - np.cos(2.0 * np.pi * u)) / 2.0


def flash_value(since: np.ndarray, dur: np.ndarray, lo: float, hi: float,
                up: float) -> np.ndarray:
    """Brightness `since` ms into a flash of length dur (up share rising, the rest settling)."""
    rise = up * dur
    return np.where(since < rise, lo + (hi - lo) * ease_name(since / np.maximum(rise, 1e-9),
                                                             "sin"),
                    np.where(since < dur, hi + (lo - hi) * ease_name(
                        (since - rise) / np.maximum(dur - rise, 1e-9), "sin"), lo))


def flash_track(n: int, clip: np.ndarray, t: np.ndarray, dur: np.ndarray, lo: float,
                hi: float, up: float = 0.2) -> Track:
    """A brightness track of n clips: each (clip, t, dur) a flash; clips without one hold lo."""
    clip = np.asarray(clip, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    dur = np.maximum(np.asarray(dur, dtype=np.float64), 1.0)
    order = np.lexsort((t, clip))
    clip, t, dur = clip[order], t[order], dur[order]
    same_next = np.zeros(clip.size, bool)
    same_next[:-1] = clip[1:] == clip[:-1]
    nxt = np.full(clip.size, np.inf)
    nxt[:-1] = np.where(same_next[:-1], t[1:], np.inf)
    # where the flash stands when its clip's next flash starts (lo if it has settled)
    start_v = np.full(clip.size, lo)
    cut = np.flatnonzero(same_next)
    start_v[cut + 1] = flash_value(t[cut + 1] - t[cut], dur[cut], lo, hi, up)
    key_t = np.stack([t, t + up * dur, t + dur], axis=1)
    key_v = np.stack([start_v, np.full(t.size, hi), np.full(t.size, lo)], axis=1)
    keep = key_t < nxt[:, None]
    keep[:, 0] = True
    sin = ease_id("sin")
    return Track.build(n, lo, np.repeat(clip, 3)[keep.ravel()], key_t[keep], key_v[keep], sin)

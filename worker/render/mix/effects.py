"""One play's sound: level, reverse, stretch, fades, pan and reverb, rendered once per
(clip, parameters) and reused for every play that shares them.

Order, as the reference's: match the clip's RMS → cap it → reverse → time-stretch → fades →
pan → reverb; the play's volume is a plain factor applied when it is mixed in (reverb and
everything before it are linear in it), so plays differing only in volume or time share one
render. Reverb is pedalboard's Freeverb on the true stereo signal (the reference's sox reverb
got an interleaved array and treated it as mono); its tail is kept. Time-stretch is
pedalboard's Rubber Band (`stretch` > 1 makes the sound longer, pitch unchanged).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from worker.render.mix.laws import db_gain, pan_gains, rms_db

SILENT_DB = -80.0  # quieter than this: left as it is, never boosted
MAX_BOOST_DB = 30.0
REVERB_TAIL_S = 2.0


@dataclass(frozen=True)
class PlayFx:
    """The parameters that change a play's rendered sound (everything but volume and time)."""

    match_db: float
    max_db: float
    reverse: bool
    stretch: float
    fade_in_ms: float
    fade_out_ms: float
    pan: float
    reverb: float

    def key(self) -> tuple:
        """A hashable key, with NaNs made comparable."""
        return tuple(None if isinstance(v, float) and np.isnan(v) else v
                     for v in (self.match_db, self.max_db, self.reverse, round(self.stretch, 6),
                               round(self.fade_in_ms, 3), round(self.fade_out_ms, 3),
                               round(self.pan, 6), round(self.reverb, 3)))


def level(audio: np.ndarray, match_db: float, max_db: float) -> np.ndarray:
    """Set the RMS to match_db (if not NaN), then lower it to at most max_db (if not NaN)."""
    db = rms_db(audio)
    if db <= SILENT_DB:
        return audio
    change = 0.0
    if not np.isnan(match_db):
        change = min(match_db - db, MAX_BOOST_DB)
    if not np.isnan(max_db) and db + change > max_db:
        change = max_db - db
    return audio * np.float32(db_gain(change)) if change else audio


def fade(audio: np.ndarray, sr: int, fade_in_ms: float, fade_out_ms: float) -> np.ndarray:
    """Linear fades in and out (each at most the whole sound)."""
    n = audio.shape[-1]
    out = audio.copy()
    fi = min(n, round(fade_in_ms * sr / 1000.0))
    fo = min(n, round(fade_out_ms * sr / 1000.0))
    if fi > 0:
        out[..., :fi] *= (np.arange(fi, dtype=np.float32) + 0.5) / fi
    if fo > 0:
        out[..., n - fo :] *= ((np.arange(fo, dtype=np.float32) + 0.5) / fo)[::-1]
    return out


def pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Equal-power pan of a (2, n) signal: its mid to the position (left, right gains)."""
    left, right = pan_gains(position)
    mono = audio.mean(axis=0)
    return np.stack([mono * np.float32(left), mono * np.float32(right)]).astype(np.float32)


def time_stretch(audio: np.ndarray, sr: int, stretch: float) -> np.ndarray:
    """Make the sound `stretch` times longer, pitch unchanged (Rubber Band via pedalboard)."""
    if abs(stretch - 1.0) < 1e-6:
        return audio
    from pedalboard import time_stretch as rubberband

    out = rubberband(np.ascontiguousarray(audio, dtype=np.float32), float(sr),
                     stretch_factor=1.0 / stretch)
    return np.asarray(out, dtype=np.float32)


def reverb(audio: np.ndarray, sr: int, amount: float) -> np.ndarray:
    """Freeverb on the (2, n) stereo signal with its tail; amount 0..100 as sox reverberance."""
    if amount <= 0:
        return audio
    from pedalboard import Reverb

    fx = Reverb(room_size=min(amount / 100.0, 1.0), damping=0.5, wet_level=0.25,
                dry_level=0.85, width=1.0)
    padded = np.concatenate(
        [audio, np.zeros((audio.shape[0], round(REVERB_TAIL_S * sr)), np.float32)], axis=1)
    out = fx.process(np.ascontiguousarray(padded), float(sr), reset=True)
    nz = np.flatnonzero(np.abs(out).max(axis=0) > 1e-5)  # trim the silent end of the tail
    return np.ascontiguousarray(out[:, : (nz[-1] + 1 if nz.size else audio.shape[1])])


def render_play(audio: np.ndarray, sr: int, fx: PlayFx) -> np.ndarray:
    """A clip's (2, n) sound as one play with these effects sounds (volume not applied)."""
    y = level(audio.astype(np.float32), fx.match_db, fx.max_db)
    if fx.reverse:
        y = y[:, ::-1]
    y = time_stretch(y, sr, fx.stretch)
    y = fade(y, sr, fx.fade_in_ms, fx.fade_out_ms)
    y = pan(y, fx.pan)
    return reverb(y, sr, fx.reverb)


class RenderCache:
    """Rendered plays by (clip, effects), least recently used dropped past a byte budget."""

    def __init__(self, max_bytes: int = 512 << 20) -> None:
        """An empty cache holding at most max_bytes of audio."""
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, clip: int, fx: PlayFx, make) -> np.ndarray:
        """The cached render of (clip, fx), or make() stored and returned."""
        key = (clip, fx.key())
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = make()
        self._items[key] = value
        self.bytes += value.nbytes
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes
        return value

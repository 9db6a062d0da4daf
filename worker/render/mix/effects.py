"""One play's sound: level, reverse, stretch, fades, pan and reverb, rendered once per
(clip, parameters) and reused for every play that shares them.

Order, as the reference's: match the clip's RMS → cap it → reverse → time-stretch → fades →
pan → reverb; the play's volume is a plain factor applied when it is mixed in (reverb and
everything before it are linear in it), so plays differing only in volume or time share one
render. Reverb is pedalboard's Freeverb on the true stereo signal (the reference's sox reverb
got an interleaved array and treated it as mono); its tail is kept.

Time-stretch (`stretch` > 1 makes the sound longer, pitch unchanged) has two methods:
"rubberband", pedalboard's Rubber Band (maintained, clean, the default), and "paulstretch",
the reference's smear (windowed spectra with random phases, overlap-added: a blurred drone
whatever the factor), seeded so a render is the same bytes every time. The levelled, reversed,
stretched sound is cached on its own per (clip, level, reverse, factor, method), so plays that
differ only in pan, fades or reverb stretch once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from worker.render.mix.laws import db_gain, pan_gains, rms_db
from worker.render.mix.plays import STRETCH_METHODS

SILENT_DB = -80.0  # quieter than this: left as it is, never boosted
MAX_BOOST_DB = 30.0
REVERB_TAIL_S = 2.0
PAULSTRETCH_WINDOW_S = 0.25  # the reference's window; shorter sounds get a shorter one
PAULSTRETCH_SEED = 0x5EED


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
    stretch_method: str = "rubberband"
    length_ms: float = float("nan")  # only the first this many ms of the clip (NaN: all)

    def __post_init__(self) -> None:
        """Refuse a stretch method the mix does not have."""
        if self.stretch_method not in STRETCH_METHODS:
            raise ConfigError(f"stretch_method must be one of {', '.join(STRETCH_METHODS)}, "
                              f"got {self.stretch_method!r}")

    def key(self) -> tuple:
        """A hashable key, with NaNs made comparable."""
        return (*self.stretch_key(), round(self.fade_in_ms, 3), round(self.fade_out_ms, 3),
                round(self.pan, 6), round(self.reverb, 3))

    def stretch_key(self) -> tuple:
        """The part of the key the levelled, reversed, stretched sound depends on."""
        return tuple(None if isinstance(v, float) and np.isnan(v) else v
                     for v in (self.match_db, self.max_db, self.reverse, round(self.stretch, 6),
                               self.stretch_method if self.stretch != 1.0 else STRETCH_METHODS[0],
                               round(self.length_ms, 3)))


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


def time_stretch(audio: np.ndarray, sr: int, stretch: float,
                 method: str = "rubberband") -> np.ndarray:
    """Make (channels, n) audio `stretch` times longer, pitch unchanged, by `method`."""
    if abs(stretch - 1.0) < 1e-6 or audio.shape[-1] == 0:
        return audio
    if method == "paulstretch":
        return paulstretch(audio, sr, stretch)
    if method != "rubberband":
        raise ConfigError(f"stretch_method must be one of {', '.join(STRETCH_METHODS)}, "
                          f"got {method!r}")
    from pedalboard import time_stretch as rubberband

    out = rubberband(np.ascontiguousarray(audio, dtype=np.float32), float(sr),
                     stretch_factor=1.0 / stretch)
    return np.asarray(out, dtype=np.float32)


def paulstretch_window(n: int, sr: int, window_s: float = PAULSTRETCH_WINDOW_S) -> int:
    """Window length (even, ≥ 256) for a sound of n samples: window_s, or the sound's length
    rounded down to a power of two when it is shorter, so a short grain still smears."""
    w = round(window_s * sr)
    if n < w:
        w = 1 << max(8, int(np.log2(max(n, 256))))
    return max(256, w - w % 2)


def paulstretch(audio: np.ndarray, sr: int, stretch: float, *,
                window_s: float = PAULSTRETCH_WINDOW_S, seed: int = PAULSTRETCH_SEED
                ) -> np.ndarray:
    """Paul Nasca's extreme time-stretch of (channels, n) audio, `stretch` times longer.

    Windows of the input, advancing by hop/stretch, keep their magnitude spectrum with
    random phases (the same phases on every channel, so the stereo image holds) and are
    overlap-added every hop = window/2 samples; the window (1 − x²)^1.25 makes the sum nearly
    flat. Seeded, so the same input gives the same bytes. Output length is round(n·stretch).
    """
    x = np.asarray(audio, dtype=np.float32)
    ch, n = x.shape
    out_n = max(1, round(n * stretch))
    w = paulstretch_window(n, sr, window_s)
    half = w // 2
    win = ((1.0 - np.linspace(-1.0, 1.0, w) ** 2) ** 1.25).astype(np.float32)
    # pad so every window, centred at its input position, has samples
    padded = np.zeros((ch, n + 2 * w), np.float32)
    padded[:, half : half + n] = x
    frames = int(np.ceil(out_n / half)) + 2
    centres = np.rint(np.arange(frames) * (half / stretch)).astype(np.int64)  # input positions
    rng = np.random.default_rng(seed)
    # frame k, centred at input sample centres[k], is written centred at output k·half, so
    # input sample i lands at output i·stretch; the buffer starts `half` early for frame 0
    out = np.zeros((ch, frames * half + w), np.float32)
    for k in range(frames):
        a = int(centres[k])
        if a >= n + half:
            break
        seg = padded[:, a : a + w] * win
        mag = np.abs(np.fft.rfft(seg, axis=1))
        phase = np.exp(2j * np.pi * rng.random(mag.shape[1]))
        grain = np.fft.irfft(mag * phase, n=w, axis=1).astype(np.float32) * win
        out[:, k * half : k * half + w] += grain
    # random phases spread each window's energy evenly over it and the second window and the
    # overlap scale the power by 2·mean(win²)²: undo that, so the stretched sound keeps the
    # level the mix set before it
    gain = np.float32(1.0 / (np.sqrt(2.0) * float(np.mean(win.astype(np.float64) ** 2))))
    return np.ascontiguousarray(out[:, half : half + out_n] * gain)


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


def stretched(audio: np.ndarray, sr: int, fx: PlayFx) -> np.ndarray:
    """A clip's (2, n) sound cut to fx.length_ms, levelled, reversed and time-stretched."""
    if not np.isnan(fx.length_ms):
        audio = audio[:, : max(1, round(fx.length_ms * sr / 1000.0))]
    y = level(audio.astype(np.float32), fx.match_db, fx.max_db)
    if fx.reverse:
        y = np.ascontiguousarray(y[:, ::-1])
    return time_stretch(y, sr, fx.stretch, fx.stretch_method)


def finish(audio: np.ndarray, sr: int, fx: PlayFx) -> np.ndarray:
    """A stretched sound faded, panned and reverberated as fx asks."""
    return reverb(pan(fade(audio, sr, fx.fade_in_ms, fx.fade_out_ms), fx.pan), sr, fx.reverb)


def render_play(audio: np.ndarray, sr: int, fx: PlayFx) -> np.ndarray:
    """A clip's (2, n) sound as one play with these effects sounds (volume not applied)."""
    return finish(stretched(audio, sr, fx), sr, fx)


class LruCache:
    """Arrays by a hashable key, least recently used dropped past a byte budget."""

    def __init__(self, max_bytes: int = 512 << 20) -> None:
        """An empty cache holding at most max_bytes of audio."""
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get_key(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The array cached under key, or make() stored and returned."""
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


class RenderCache(LruCache):
    """Rendered plays by (clip, effects)."""

    def get(self, clip: int, fx: PlayFx, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached render of (clip, fx), or make() stored and returned."""
        return self.get_key((clip, fx.key()), make)


class StretchCache(LruCache):
    """Levelled, reversed, stretched sounds by (clip, level, reverse, factor, method): the
    costly part of a play, shared by plays that differ only in fades, pan or reverb."""

    def get(self, clip: int, fx: PlayFx, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached stretch of (clip, fx), or make() stored and returned."""
        return self.get_key((clip, fx.stretch_key()), make)

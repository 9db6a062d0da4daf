"""Row shear: a per-frame effect on the composited picture, every pixel row sliding sideways.

The reference's `splice` post-process (an OpenCL kernel rebuilt every frame): each output row is
shifted horizontally, wrapping around the frame, odd rows the opposite way to even rows. A row
travels `travel` frame widths, eased, in a time that depends on its height: the middle rows in
the first of `period_ms`, the top and bottom rows in the second; past `fade_from` of its
travel a row fades to black. The picture shears and tears into interlaced strips.

It runs on the yuv420p buffer after the clips are drawn, in place, compiled with numba (one
band of rows per thread, one vectorised pass per row): each luma row samples itself at
x + shift with linear interpolation;
a chroma row serves two luma rows moving opposite ways, so it is the mean of its own row
sampled at both half-resolution shifts, each faded by its row's gain (what a 4:2:0 downsample
of the sheared full-resolution picture gives). A frame is a pure function of (shear, time).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np

from core.errors import ConfigError
from worker.render.engine.easing import ease_id, ease_name

BAND_ROWS = 32


@dataclass(frozen=True)
class RowShear:
    """When and how fast the rows of a frame slide sideways and fade."""

    start_ms: float
    period_ms: tuple[float, float] = (64000.0, 96000.0)  # middle rows, top and bottom rows
    travel: float = 1.0  # frame widths travelled (the reference's cycles)
    fade_from: float = 0.5  # share of the travel after which a row fades to black
    easing: str = "quadInOut"

    def __post_init__(self) -> None:
        """Refuse a shear that cannot run."""
        ease_id(self.easing)
        if min(self.period_ms) <= 0 or not 0 <= self.fade_from <= 1 or self.travel < 0:
            raise ConfigError("row shear needs periods > 0, fade_from in [0, 1], travel ≥ 0")
        object.__setattr__(self, "period_ms", tuple(float(p) for p in self.period_ms))

    def to_dict(self) -> dict:
        """The shear as JSON-able values (saved with the scene)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RowShear:
        """Rebuild a shear saved by to_dict."""
        return cls(d["start_ms"], tuple(d["period_ms"]), d["travel"], d["fade_from"],
                   d["easing"])

    def progress(self, t_ms: float, ny: np.ndarray) -> np.ndarray:
        """Eased share of its travel done at t_ms by rows at normalised heights ny (0 top, 1
        bottom): middle rows move fastest, by a quadratic bell of the height."""
        ny = np.asarray(ny, dtype=np.float64)
        edge = 1.0 - ease_name(np.where(ny < 0.5, ny / 0.5, (1.0 - ny) / 0.5), "quadInOut")
        dur = self.period_ms[0] + (self.period_ms[1] - self.period_ms[0]) * edge
        return ease_name(np.clip((t_ms - self.start_ms) / dur, 0.0, 1.0), self.easing)

    def rows(self, t_ms: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Per output row: the shift in pixels (a row shows its own content from x + shift)
        and the gain toward black, at t_ms."""
        y = np.arange(height)
        p = self.progress(t_ms, y / max(height - 1, 1))
        shift = p * self.travel * width * np.where(y % 2, -1.0, 1.0)
        gain = np.where(p > self.fade_from,
                        1.0 - (p - self.fade_from) / max(1.0 - self.fade_from, 1e-9), 1.0)
        return shift, np.clip(gain, 0.0, 1.0)

    def displaced_x(self, t_ms: float, x: np.ndarray, y: np.ndarray, width: int,
                    height: int) -> np.ndarray:
        """Where content at screen (x, y) shows at t_ms: x − shift of its row, wrapped."""
        shift, _ = self.rows(t_ms, width, height)
        row = np.clip(np.floor(np.asarray(y)).astype(np.int64), 0, height - 1)
        return np.mod(np.asarray(x, dtype=np.float64) - shift[row], width)


@numba.njit(inline="always")
def _split(s, width):
    """A shift as a whole number of pixels in [0, width) and a fraction in [0, 1)."""
    whole = math.floor(s)
    frac = s - whole
    whole = int(whole) % width
    return whole, frac


@numba.njit(inline="always")
def _coefs(weight, gain, frac, black):
    """(k0, k1, c) with weight·(black + (v − black)·gain) = c + k0·src[x0] + k1·src[x1] for
    v linear between src[x0] and src[x1] by frac."""
    k1 = weight * gain * frac
    return np.float32(weight * gain - k1), np.float32(k1), np.float32(weight * black * (1.0 - gain))


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=True)
def shear_planes(yp, up, vp, shift, gain):
    """Shift each luma row by shift[y] (fading it by gain[y] toward black) and each chroma row
    by the mean of its two luma rows' half shifts, in place.

    Each row is copied twice end to end into a scratch row, so x + shift never wraps inside
    the loop: one branch-free pass per row that the compiler vectorises. The weights sum to
    at most 1, so values stay within 0..255 without clamping.
    """
    height, width = yp.shape
    ch, cw = up.shape
    nbands = (height + BAND_ROWS - 1) // BAND_ROWS
    half = np.float32(0.5)
    for band in numba.prange(nbands):
        ext = np.empty(2 * width + 1, np.float32)
        r0 = band * BAND_ROWS
        r1 = min(height, r0 + BAND_ROWS)
        for y in range(r0, r1):
            if shift[y] == 0.0 and gain[y] == 1.0:
                continue
            if gain[y] <= 0.0:
                yp[y, :] = 16
                continue
            w, f = _split(shift[y], width)
            k0, k1, c = _coefs(1.0, gain[y], f, 16.0)
            ext[:width] = yp[y, :]
            ext[width : 2 * width] = ext[:width]
            ext[2 * width] = ext[0]
            for x in range(width):
                yp[y, x] = np.uint8(c + k0 * ext[x + w] + k1 * ext[x + w + 1] + half)
        for cr in range(r0 // 2, min(ch, (r1 + 1) // 2)):
            y0, y1 = 2 * cr, min(2 * cr + 1, height - 1)
            if shift[y0] == 0.0 and shift[y1] == 0.0 and gain[y0] == 1.0 and gain[y1] == 1.0:
                continue
            if gain[y0] <= 0.0 and gain[y1] <= 0.0:
                up[cr, :] = 128
                vp[cr, :] = 128
                continue
            w0, f0 = _split(0.5 * shift[y0], cw)
            w1, f1 = _split(0.5 * shift[y1], cw)
            a0, a1, ca = _coefs(0.5, gain[y0], f0, 128.0)
            b0, b1, cb = _coefs(0.5, gain[y1], f1, 128.0)
            c = ca + cb + half
            for plane in (up, vp):
                ext[:cw] = plane[cr, :]
                ext[cw : 2 * cw] = ext[:cw]
                ext[2 * cw] = ext[0]
                for x in range(cw):
                    plane[cr, x] = np.uint8(c + a0 * ext[x + w0] + a1 * ext[x + w0 + 1]
                                            + b0 * ext[x + w1] + b1 * ext[x + w1 + 1])


def apply_shear(planes: tuple[np.ndarray, np.ndarray, np.ndarray], shear: RowShear,
                t_ms: float) -> None:
    """Shear the Y, U, V planes of one frame in place as `shear` has them at t_ms."""
    yp, up, vp = planes
    height, width = yp.shape
    shift, gain = shear.rows(t_ms, width, height)
    if not shift.any() and (gain == 1.0).all():
        return
    shear_planes(yp, up, vp, shift.astype(np.float64), gain.astype(np.float64))

"""The clip-frame store: every frame of every clip, as YUV 4:2:0 mip levels in one flat buffer.

Clip c has `nframes[c]` frames; level 0 is the largest size the clip is shown at, and each
further level halves it (rounding up) down to a few pixels, so the compositor never samples
more than 2× down (no aliasing) and never reads more bytes than it draws. A frame at a level is
the Y plane (h×w) followed by U and V planes (ceil(h/2)×ceil(w/2)), TV range (Y 16-235), the
layout video codecs use, so frames go from decoder to cache to encoder without colour
conversion. The buffer can be a memory-mapped file (see worker/render/clipcache.py) or an
array in memory (tests, previews).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError

MAX_LEVELS = 8
MIN_LEVEL_SIDE = 2  # stop halving once both sides are this small
BLACK_YUV = (16, 128, 128)


def level_sizes(w0: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each clip's level widths and heights, shape (n, MAX_LEVELS), and its level count."""
    w0 = np.maximum(np.asarray(w0, dtype=np.int64), 1)
    h0 = np.maximum(np.asarray(h0, dtype=np.int64), 1)
    lw = np.zeros((w0.size, MAX_LEVELS), dtype=np.int64)
    lh = np.zeros_like(lw)
    nlev = np.ones(w0.size, dtype=np.int64)
    w, h = w0.copy(), h0.copy()
    lw[:, 0], lh[:, 0] = w, h
    for lev in range(1, MAX_LEVELS):
        more = (w > MIN_LEVEL_SIDE) | (h > MIN_LEVEL_SIDE)
        if not more.any():
            break
        w, h = np.where(more, (w + 1) // 2, 0), np.where(more, (h + 1) // 2, 0)
        lw[:, lev], lh[:, lev] = w, h
        nlev += more
    return lw, lh, nlev


def frame_bytes(lw: np.ndarray, lh: np.ndarray) -> np.ndarray:
    """Bytes of one YUV 4:2:0 frame of the given plane sizes (0 for absent levels)."""
    return lw * lh + 2 * ((lw + 1) // 2) * ((lh + 1) // 2)


@dataclass(frozen=True)
class StoreLayout:
    """Where each clip's frames live: level sizes and byte offsets into one flat buffer."""

    nframes: np.ndarray  # (n,) int64, ≥ 1
    lw: np.ndarray  # (n, MAX_LEVELS) int64
    lh: np.ndarray
    nlev: np.ndarray  # (n,)
    off: np.ndarray  # (n, MAX_LEVELS) int64: byte offset of frame 0 at each level
    clip_off: np.ndarray  # (n + 1,) int64: each clip's byte range
    total: int

    @classmethod
    def plan(cls, w0, h0, nframes) -> StoreLayout:
        """Lay out clips with level-0 sizes (w0, h0) and nframes frames each, end to end."""
        nframes = np.maximum(np.asarray(nframes, dtype=np.int64), 1)
        lw, lh, nlev = level_sizes(w0, h0)
        fb = frame_bytes(lw, lh) * nframes[:, None]
        per_clip = fb.sum(axis=1)
        clip_off = np.zeros(nframes.size + 1, dtype=np.int64)
        np.cumsum(per_clip, out=clip_off[1:])
        off = clip_off[:-1, None] + np.concatenate(
            [np.zeros((nframes.size, 1), dtype=np.int64), np.cumsum(fb, axis=1)[:, :-1]], axis=1)
        return cls(nframes, lw, lh, nlev, off, clip_off, int(clip_off[-1]))

    @property
    def n(self) -> int:
        """Number of clips."""
        return int(self.nframes.size)

    def arrays(self) -> dict[str, np.ndarray]:
        """The layout's defining arrays (level-0 sizes and frame counts), for saving."""
        return {"w0": self.lw[:, 0], "h0": self.lh[:, 0], "nframes": self.nframes}

    def level_for(self, clips: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The smallest level still at least (w, h) on screen, per clip: ≤ 2× down-sampling."""
        ratio = np.minimum(self.lw[clips, 0] / np.maximum(w, 1e-6),
                           self.lh[clips, 0] / np.maximum(h, 1e-6))
        lev = np.floor(np.log2(np.maximum(ratio, 1.0))).astype(np.int64)
        return np.minimum(lev, self.nlev[clips] - 1)

    def frame_offset(self, clips: np.ndarray, levels: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Byte offset of frame k of each clip at each level."""
        lw, lh = self.lw[clips, levels], self.lh[clips, levels]
        return self.off[clips, levels] + k * frame_bytes(lw, lh)


def planes(data: np.ndarray, layout: StoreLayout, c: int, level: int, k: int):
    """The (Y, U, V) planes of frame k of clip c at a level, as views into data."""
    w, h = int(layout.lw[c, level]), int(layout.lh[c, level])
    if w == 0 or not 0 <= k < layout.nframes[c]:
        raise ConfigError(f"clip {c} has no level {level} frame {k}")
    cw, ch = (w + 1) // 2, (h + 1) // 2
    o = int(layout.frame_offset(np.array([c]), np.array([level]), np.array([k]))[0])
    y = data[o : o + w * h].reshape(h, w)
    u = data[o + w * h : o + w * h + cw * ch].reshape(ch, cw)
    v = data[o + w * h + cw * ch : o + w * h + 2 * cw * ch].reshape(ch, cw)
    return y, u, v


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., 3) to BT.601 TV-range YUV float (..., 3), as swscale converts."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    return np.stack([y, u, v], axis=-1)


def halve(img: np.ndarray) -> np.ndarray:
    """Average 2×2 blocks of (h, w, ...) floats; an odd last row or column is repeated."""
    h, w = img.shape[:2]
    if h % 2:
        img = np.concatenate([img, img[-1:]], axis=0)
    if w % 2:
        img = np.concatenate([img, img[:, -1:]], axis=1)
    return 0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])


def _to_u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)


def yuv444_to_420(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (h, w, 3) float YUV picture as uint8 (Y, U, V) 4:2:0 planes."""
    c = halve(yuv[..., 1:])
    return _to_u8(yuv[..., 0]), _to_u8(c[..., 0]), _to_u8(c[..., 1])


def write_levels(data: np.ndarray, layout: StoreLayout, c: int, k: int, yuv: np.ndarray) -> None:
    """Write frame k of clip c from one level-0 (h, w, 3) float YUV picture, every level."""
    for lev in range(int(layout.nlev[c])):
        h, w = int(layout.lh[c, lev]), int(layout.lw[c, lev])
        if yuv.shape[:2] != (h, w):
            yuv = halve(yuv)
        if yuv.shape[:2] != (h, w):
            raise ConfigError(f"clip {c} level {lev}: picture {yuv.shape[:2]} is not {(h, w)}")
        for dst, src in zip(planes(data, layout, c, lev, k), yuv444_to_420(yuv), strict=True):
            dst[...] = src


def level_view(data: np.ndarray, layout: StoreLayout, c: int, level: int):
    """(Y, U, V) views of all frames of clip c at a level: (nframes, h, w) and (nframes, ch, cw)."""
    w, h, nf = int(layout.lw[c, level]), int(layout.lh[c, level]), int(layout.nframes[c])
    cw, ch = (w + 1) // 2, (h + 1) // 2
    o = int(layout.off[c, level])
    block = data[o : o + nf * (w * h + 2 * cw * ch)].reshape(nf, -1)
    return (block[:, : w * h].reshape(nf, h, w),
            block[:, w * h : w * h + cw * ch].reshape(nf, ch, cw),
            block[:, w * h + cw * ch :].reshape(nf, ch, cw))


def write_clip(data: np.ndarray, layout: StoreLayout, c: int, yuv: np.ndarray) -> None:
    """Write all frames of clip c from level-0 (nframes, h, w, 3) float YUV, every level."""
    nf = int(layout.nframes[c])
    if yuv.shape[0] != nf:
        raise ConfigError(f"clip {c} needs {nf} frames, got {yuv.shape[0]}")
    pics = np.moveaxis(yuv, 0, 2)  # (h, w, nframes, 3): halve works on the first two axes
    for lev in range(int(layout.nlev[c])):
        h, w = int(layout.lh[c, lev]), int(layout.lw[c, lev])
        if pics.shape[:2] != (h, w):
            pics = halve(pics)
        if pics.shape[:2] != (h, w):
            raise ConfigError(f"clip {c} level {lev}: picture {pics.shape[:2]} is not {(h, w)}")
        y, u, v = level_view(data, layout, c, lev)
        chroma = halve(pics[..., 1:])
        y[...] = np.moveaxis(_to_u8(pics[..., 0]), 2, 0)
        u[...] = np.moveaxis(_to_u8(chroma[..., 0]), 2, 0)
        v[...] = np.moveaxis(_to_u8(chroma[..., 1]), 2, 0)


def store_from_rgb(clips: list[np.ndarray]) -> tuple[np.ndarray, StoreLayout]:
    """An in-memory store from per-clip RGB frames, each (nframes, h, w, 3) uint8 (tests, demos)."""
    sizes = np.array([[c.shape[2], c.shape[1], c.shape[0]] for c in clips], dtype=np.int64)
    layout = StoreLayout.plan(sizes[:, 0], sizes[:, 1], sizes[:, 2])
    data = np.zeros(layout.total, dtype=np.uint8)
    for c, frames in enumerate(clips):
        write_clip(data, layout, c, rgb_to_yuv(frames))
    return data, layout


def fill_black(data: np.ndarray, layout: StoreLayout, clips) -> None:
    """Paint every frame of the given clips black (a source that could not be decoded)."""
    for c in np.asarray(clips, dtype=np.int64).ravel():
        for lev in range(int(layout.nlev[c])):
            for plane, value in zip(level_view(data, layout, int(c), lev), BLACK_YUV,
                                    strict=True):
                plane[...] = value

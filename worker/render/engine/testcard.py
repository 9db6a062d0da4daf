"""Synthetic clip pictures: a store filled without any media, for previews, benches and tests.

Each clip is a flat colour card with a lighter bar sweeping left to right over its frames, so
motion, ping-pong loops and mip levels are visible in a render; frame 0 of a clip can be made
white (a flash at a known picture time).
"""

from __future__ import annotations

import colorsys

import numpy as np

from worker.render.engine.store import StoreLayout, rgb_to_yuv, write_clip


def card_colours(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 colours: hue from the angle of (x, y) about its mean, saturation by radius."""
    dx, dy = x - x.mean(), y - y.mean()
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    r = np.hypot(dx, dy)
    sat = 0.35 + 0.6 * r / max(float(r.max()), 1e-9)
    rgb = [colorsys.hsv_to_rgb(h, s, 0.9) for h, s in zip(hue, sat, strict=True)]
    return np.round(np.array(rgb) * 255).astype(np.uint8).reshape(-1, 3)


def card_frames(colour: np.ndarray, w: int, h: int, nframes: int,
                flash_frame: int | None = None) -> np.ndarray:
    """(nframes, h, w, 3) uint8 RGB: the colour with a sweeping lighter bar."""
    frames = np.empty((nframes, h, w, 3), dtype=np.uint8)
    frames[...] = colour
    bar = np.minimum(255, colour.astype(np.int64) + 110).astype(np.uint8)
    width = max(1, w // 6)
    for k in range(nframes):
        x = round(k / max(nframes - 1, 1) * (w - width))
        frames[k, :, x : x + width] = bar
    if flash_frame is not None and 0 <= flash_frame < nframes:
        frames[flash_frame] = 255
    return frames


def testcard_store(layout: StoreLayout, colours: np.ndarray,
                   flash: np.ndarray | None = None) -> np.ndarray:
    """A store for `layout` with every clip a card of its colour (flash[c]: a white frame)."""
    data = np.zeros(layout.total, dtype=np.uint8)
    for c in range(layout.n):
        f = None if flash is None or flash[c] < 0 else int(flash[c])
        frames = card_frames(colours[c], int(layout.lw[c, 0]), int(layout.lh[c, 0]),
                             int(layout.nframes[c]), f)
        write_clip(data, layout, c, rgb_to_yuv(frames))
    return data

"""The compositor's inner loop: draw clips, back to front, into YUV 4:2:0 planes.

This is the one place where a per-pixel loop is unavoidable, so it is compiled with numba
(already in the stack through librosa): each output pixel inside a clip's (possibly rotated)
rectangle is inverse-mapped into the clip's chosen mip level, sampled bilinearly, scaled by
brightness about black and alpha-blended over what is below. Work is split into horizontal
bands, one per thread; every band walks the clips in the same z order, so the result does not
depend on the number of threads. Chroma is drawn at half resolution from the clip's own chroma
planes, so frames go to the encoder as they are.
"""

from __future__ import annotations

import math

import numba
import numpy as np

BAND_ROWS = 32  # rows per parallel band (even, so chroma bands line up)


@numba.njit(inline="always")
def _bilinear(data, base, w, h, u, v):
    """Sample a (h, w) uint8 plane stored at data[base:] at continuous texel coords (u, v)."""
    fu = min(max(u - 0.5, 0.0), w - 1.0)
    fv = min(max(v - 0.5, 0.0), h - 1.0)
    x0 = int(fu)
    y0 = int(fv)
    x1 = min(x0 + 1, w - 1)
    y1 = min(y0 + 1, h - 1)
    ax = fu - x0
    ay = fv - y0
    r0 = base + y0 * w
    r1 = base + y1 * w
    top = data[r0 + x0] + (data[r0 + x1] - np.float64(data[r0 + x0])) * ax
    bot = data[r1 + x0] + (data[r1 + x1] - np.float64(data[r1 + x0])) * ax
    return top + (bot - top) * ay


@numba.njit(inline="always")
def _put(plane, y, x, value, black, bright, alpha):
    """Blend one sampled value, scaled about `black` by brightness, into plane[y, x]."""
    val = black + (value - black) * bright
    if alpha < 1.0:
        val = plane[y, x] + (val - plane[y, x]) * alpha
    val = math.floor(val + 0.5)
    plane[y, x] = 0 if val < 0.0 else (255 if val > 255.0 else np.uint8(val))


@numba.njit(inline="always")
def _covers(p, centre, scale, size):
    """Whether pixel p's centre falls inside a clip along one (unrotated) axis."""
    t = (p + 0.5 - centre) * scale + 0.5 * size
    return t >= 0.0 and t < size


@numba.njit(inline="always")
def _luma_axis(lo, hi, centre, scale, size, tx0, tx1, tfrac):
    """Texel pairs and weights for pixels lo..hi-1 along one axis of an unrotated clip.

    Returns the first and one-past-last pixel whose centre the clip covers.
    """
    first, last = hi, lo
    for p in range(lo, hi):
        t = (p + 0.5 - centre) * scale + 0.5 * size
        if t < 0.0 or t >= size:
            continue
        if p < first:
            first = p
        last = p + 1
        f = min(max(t - 0.5, 0.0), size - 1.0)
        i0 = int(f)
        tx0[p - lo] = i0
        tx1[p - lo] = min(i0 + 1, size - 1)
        tfrac[p - lo] = f - i0
    return first, last


@numba.njit(inline="always")
def _chroma_axis(lo, hi, centre, scale, size, tx0, tx1, tfrac, cover):
    """As _luma_axis for half-resolution chroma pixels lo..hi-1 (2×2 luma blocks).

    `cover` gets the share (0, ½, 1) of each block's two luma pixels the clip covers, so
    edges blend as a 4:2:0 downsample of the full-resolution picture would.
    """
    n = (size + 1) // 2
    first, last = hi, lo
    for p in range(lo, hi):
        k = 0.5 * (_covers(2 * p, centre, scale, size) + _covers(2 * p + 1, centre, scale, size))
        if k == 0.0:
            continue
        if p < first:
            first = p
        last = p + 1
        t = (2.0 * p + 1.0 - centre) * scale + 0.5 * size  # block centre, luma texels
        f = min(max(0.5 * t - 0.5, 0.0), n - 1.0)
        i0 = int(f)
        tx0[p - lo] = i0
        tx1[p - lo] = min(i0 + 1, n - 1)
        tfrac[p - lo] = f - i0
        cover[p - lo] = k
    return first, last


@numba.njit(inline="always")
def _blit(plane, data, base, pitch, black, b, a, ylo, yhi, xlo, xhi, rlo, clo,
          ry0, ry1, rfy, rk, cx0, cx1, cfx, ck):
    """Draw rows ylo..yhi-1, columns xlo..xhi-1 of an unrotated clip from its texel tables.

    rk and ck weight alpha per row and column (edge coverage for chroma; ones for luma).
    """
    for y in range(ylo, yhi):
        j = y - rlo
        r0 = base + ry0[j] * pitch
        r1 = base + ry1[j] * pitch
        ay = rfy[j]
        arow = a * rk[j]
        for x in range(xlo, xhi):
            i = x - clo
            x0 = cx0[i]
            x1 = cx1[i]
            ax = cfx[i]
            p00 = np.float32(data[r0 + x0])
            p01 = np.float32(data[r0 + x1])
            p10 = np.float32(data[r1 + x0])
            p11 = np.float32(data[r1 + x1])
            top = p00 + (p01 - p00) * ax
            val = top + (p10 + (p11 - p10) * ax - top) * ay
            if b != 1.0:
                val = black + (val - black) * b
            ak = arow * ck[i]
            if ak < 1.0:
                val = plane[y, x] + (val - plane[y, x]) * ak
            val = val + np.float32(0.5)
            plane[y, x] = 0 if val < 0.0 else (255 if val >= 255.0 else np.uint8(val))


@numba.njit(inline="always")
def _put_rotated(plane, data, base, w, h, cw, ch, y, x, px, py, c, s, su, sv, black, b, a,
                 chroma):
    """Draw one pixel of a rotated clip (chroma: a 2×2 block, weighted by its coverage)."""
    if not chroma:
        u = (c * px + s * py) * su + 0.5 * w
        v = (c * py - s * px) * sv + 0.5 * h
        if u < 0.0 or v < 0.0 or u >= w or v >= h:
            return
        _put(plane, y, x, _bilinear(data, base, w, h, u, v), black, b, a)
        return
    k = 0.0
    for dy in (-0.5, 0.5):
        for dx in (-0.5, 0.5):
            u = (c * (px + dx) + s * (py + dy)) * su + 0.5 * w
            v = (c * (py + dy) - s * (px + dx)) * sv + 0.5 * h
            if u >= 0.0 and v >= 0.0 and u < w and v < h:
                k += 0.25
    if k == 0.0:
        return
    u = (c * px + s * py) * su + 0.5 * w
    v = (c * py - s * px) * sv + 0.5 * h
    _put(plane, y, x, _bilinear(data, base, cw, ch, 0.5 * u, 0.5 * v), black, b, a * k)


@numba.njit(nogil=True, cache=True)
def band_lists(height, width, cx, cy, sw, sh, cs, sn, alpha):
    """Which clips touch each band of BAND_ROWS rows, in draw order: (start, items) with band
    b's clips at items[start[b]:start[b + 1]].

    One pass over the clips instead of one per band: with 16k small clips, testing every clip
    against every band cost more than drawing them. A clip is listed in a band exactly when
    the per-band test in draw_clips would draw some of its rows there.
    """
    nbands = (height + BAND_ROWS - 1) // BAND_ROWS
    n = cx.size
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    count = np.zeros(nbands + 1, np.int64)
    for i in range(n):
        lo[i], hi[i] = 0, -1
        if alpha[i] <= 0.0 or sw[i] <= 0.0 or sh[i] <= 0.0:
            continue
        c, s = cs[i], sn[i]
        half_w = 0.5 * (abs(c) * sw[i] + abs(s) * sh[i])
        half_h = 0.5 * (abs(s) * sw[i] + abs(c) * sh[i])
        ya = max(0, math.floor(cy[i] - half_h) - 1)
        yb = min(height, math.ceil(cy[i] + half_h) + 1)
        xa = max(0, math.floor(cx[i] - half_w) - 1)
        xb = min(width, math.ceil(cx[i] + half_w) + 1)
        if ya >= yb or xa >= xb:
            continue
        lo[i], hi[i] = ya // BAND_ROWS, (yb - 1) // BAND_ROWS
        for b in range(lo[i], hi[i] + 1):
            count[b + 1] += 1
    start = np.cumsum(count)
    items = np.empty(start[-1], np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        for b in range(lo[i], hi[i] + 1):
            items[fill[b]] = i
            fill[b] += 1
    return start, items


@numba.njit(parallel=True, nogil=True, cache=True)
def draw_clips(yp, up, vp, data, off, lw, lh, cx, cy, sw, sh, cs, sn, bright, alpha):
    """Draw clips 0..K-1 in order (back to front) into the Y, U and V planes in place.

    Per clip: `off` byte offset of its frame's Y plane in `data` (U and V follow), `lw`×`lh`
    that level's size, (cx, cy) the centre and sw×sh the size on screen in pixels, (cs, sn) the
    cosine and sine of its clockwise rotation, brightness (1 = as is, 0 = black) and alpha.
    Unrotated clips take a table-driven path (texel pairs per row and per column); rotated
    ones map every pixel. Each band visits only the clips `band_lists` puts in it.
    """
    height, width = yp.shape
    nbands = (height + BAND_ROWS - 1) // BAND_ROWS
    start, items = band_lists(height, width, cx, cy, sw, sh, cs, sn, alpha)
    for band in numba.prange(nbands):
        r0 = band * BAND_ROWS
        r1 = min(height, r0 + BAND_ROWS)
        c0, c1 = r0 // 2, min(up.shape[0], (r1 + 1) // 2)
        ry0 = np.empty(BAND_ROWS, np.int64)
        ry1 = np.empty(BAND_ROWS, np.int64)
        rfy = np.empty(BAND_ROWS, np.float32)
        rk = np.ones(BAND_ROWS, np.float32)
        cx0 = np.empty(width, np.int64)
        cx1 = np.empty(width, np.int64)
        cfx = np.empty(width, np.float32)
        ck = np.ones(width, np.float32)
        ones_r = np.ones(BAND_ROWS, np.float32)
        ones_c = np.ones(width, np.float32)
        for q in range(start[band], start[band + 1]):
            i = items[q]
            a = alpha[i]
            c, s = cs[i], sn[i]
            half_w = 0.5 * (abs(c) * sw[i] + abs(s) * sh[i])
            half_h = 0.5 * (abs(s) * sw[i] + abs(c) * sh[i])
            ya = max(r0, math.floor(cy[i] - half_h) - 1)
            yb = min(r1, math.ceil(cy[i] + half_h) + 1)
            if ya >= yb:
                continue
            xa = max(0, math.floor(cx[i] - half_w) - 1)
            xb = min(width, math.ceil(cx[i] + half_w) + 1)
            if xa >= xb:
                continue
            w, h = lw[i], lh[i]
            su, sv = w / sw[i], h / sh[i]  # texels per screen pixel
            b = np.float32(bright[i])
            af = np.float32(a)
            base = off[i]
            cw, ch = (w + 1) // 2, (h + 1) // 2
            ubase = base + w * h
            vbase = ubase + cw * ch
            cya, cyb = max(c0, ya // 2), min(c1, (yb + 1) // 2)
            cxa, cxb = xa // 2, min(up.shape[1], (xb + 1) // 2)
            if s == 0.0 and c > 0.0:
                ylo, yhi = _luma_axis(ya, yb, cy[i], sv, h, ry0, ry1, rfy)
                xlo, xhi = _luma_axis(xa, xb, cx[i], su, w, cx0, cx1, cfx)
                _blit(yp, data, base, w, np.float32(16.0), b, af, ylo, yhi, xlo, xhi, ya, xa,
                      ry0, ry1, rfy, ones_r, cx0, cx1, cfx, ones_c)
                if cya >= cyb or cxa >= cxb:
                    continue
                ylo, yhi = _chroma_axis(cya, cyb, cy[i], sv, h, ry0, ry1, rfy, rk)
                xlo, xhi = _chroma_axis(cxa, cxb, cx[i], su, w, cx0, cx1, cfx, ck)
                _blit(up, data, ubase, cw, np.float32(128.0), b, af, ylo, yhi, xlo, xhi,
                      cya, cxa, ry0, ry1, rfy, rk, cx0, cx1, cfx, ck)
                _blit(vp, data, vbase, cw, np.float32(128.0), b, af, ylo, yhi, xlo, xhi,
                      cya, cxa, ry0, ry1, rfy, rk, cx0, cx1, cfx, ck)
                continue
            for y in range(ya, yb):
                py = y + 0.5 - cy[i]
                for x in range(xa, xb):
                    _put_rotated(yp, data, base, w, h, cw, ch, y, x, x + 0.5 - cx[i], py, c, s,
                                 su, sv, 16.0, b, a, False)
            for yc in range(cya, cyb):
                py = 2.0 * yc + 1.0 - cy[i]
                for xc in range(cxa, cxb):
                    px = 2.0 * xc + 1.0 - cx[i]
                    _put_rotated(up, data, ubase, w, h, cw, ch, yc, xc, px, py, c, s, su, sv,
                                 128.0, b, a, True)
                    _put_rotated(vp, data, vbase, w, h, cw, ch, yc, xc, px, py, c, s, su, sv,
                                 128.0, b, a, True)


def new_frame(width: int, height: int) -> np.ndarray:
    """A black yuv420p frame buffer, shape (height * 3 // 2, width), as PyAV lays it out."""
    buf = np.empty((height * 3 // 2, width), dtype=np.uint8)
    clear(buf, width, height)
    return buf


def clear(buf: np.ndarray, width: int, height: int) -> None:
    """Paint a yuv420p frame buffer black."""
    buf[:height] = 16
    buf[height:] = 128


def frame_planes(buf: np.ndarray, width: int, height: int):
    """Y, U and V plane views of a yuv420p frame buffer."""
    flat = buf.reshape(-1)
    q = (width // 2) * (height // 2)
    y = flat[: width * height].reshape(height, width)
    u = flat[width * height : width * height + q].reshape(height // 2, width // 2)
    v = flat[width * height + q : width * height + 2 * q].reshape(height // 2, width // 2)
    return y, u, v

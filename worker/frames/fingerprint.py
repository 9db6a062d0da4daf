"""Per-frame fingerprints in one sequential pass: pHash, dHash, mean colour, luma statistics and
16×9 grey and colour thumbnails, computed from the decoded planes without colour conversion.

Each frame's Y, U and V planes are summed into a 32×32 grid of cells by one compiled pass over
the plane (no rescale, no RGB); everything else is computed on those grids a batch of frames at
a time. Hashes follow imagehash's definitions (pHash: the 8×8 lowest DCT-II coefficients of the
32×32 grey picture against their median; dHash: 8 rows of 9 against their right neighbour), so
their bits mean the usual thing. Frames are fingerprinted as displayed (rotation applied).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
import scipy.fft

from core.errors import MediaError
from worker.frames.video import DecodedFrame, VideoInfo, VideoReader

GRID = 32
THUMB_W, THUMB_H = 16, 9
STATS = ("luma_mean", "luma_std", "contrast")
"""Columns of `FrameBatch.stats`: mean and std of luma over all pixels (0-255, full range), and
the std of the 32×32 cell means: how much picture there is for the hashes to describe."""


@dataclass(frozen=True)
class FingerprintParams:
    """How to read a file: every `every`-th frame, decoder threads, fast (deblock-free) decode."""

    every: int = 1
    threads: int = 0
    fast: bool = True
    batch: int = 512
    rate: float | None = None  # instead of every: the frame nearest each 1/rate seconds

    def __post_init__(self) -> None:
        if self.every < 1 or self.batch < 1 or self.threads < 0:
            raise ValueError("every and batch must be >= 1, threads >= 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0")


@dataclass
class FrameBatch:
    """Fingerprints of consecutive processed frames (n rows in every array)."""

    index: np.ndarray  # (n,) int64, decoded frame number
    t: np.ndarray  # (n,) float64 seconds from the stream start
    phash: np.ndarray  # (n,) uint64
    dhash: np.ndarray  # (n,) uint64
    color: np.ndarray  # (n, 3) uint8 mean RGB
    stats: np.ndarray  # (n, 3) float32, see STATS
    thumb_gray: np.ndarray  # (n, 9, 16) uint8
    thumb_color: np.ndarray  # (n, 9, 16, 3) uint8 RGB

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def concat(batches: list[FrameBatch]) -> FrameBatch:
        """One batch holding the rows of all `batches` in order."""
        if not batches:
            return empty_batch()
        return FrameBatch(**{
            name: np.concatenate([getattr(b, name) for b in batches])
            for name in FrameBatch.__dataclass_fields__
        })


def empty_batch() -> FrameBatch:
    """A batch with no rows and the right dtypes and shapes."""
    return FrameBatch(
        index=np.zeros(0, np.int64), t=np.zeros(0, np.float64), phash=np.zeros(0, np.uint64),
        dhash=np.zeros(0, np.uint64), color=np.zeros((0, 3), np.uint8),
        stats=np.zeros((0, 3), np.float32), thumb_gray=np.zeros((0, THUMB_H, THUMB_W), np.uint8),
        thumb_color=np.zeros((0, THUMB_H, THUMB_W, 3), np.uint8),
    )


@dataclass
class Fingerprints:
    """A whole file's fingerprints (small files, tests, the CLI) with its stream facts."""

    info: VideoInfo
    frames: FrameBatch
    decode_errors: int = 0
    params: FingerprintParams = field(default_factory=FingerprintParams)


# --- the compiled per-plane pass ------------------------------------------------------------


SQ_ROW_STEP = 4  # luma_std is estimated from every 4th row: exact enough, a tenth of the cost


@numba.njit(cache=True, nogil=True)
def _cell_sums(plane, width, rows, c0, c1, out, sq_step):  # pragma: no cover - compiled
    """Add pixel (y, x) of plane[:, :width] into out[rows[y], c] for c0[c] <= x < c1[c].

    Returns the sum of squares over every `sq_step`-th row (0: none). The rows of a band are
    summed into one uint16 line (contiguous, vectorised adds), then the line is folded into
    the band's cells; bands must be at most 257 rows (planes up to 8224 rows high).
    """
    h = plane.shape[0]
    line = np.zeros(width, np.uint16)
    sq = np.int64(0)
    band = rows[0]
    for r in range(h):
        if rows[r] != band:
            for c in range(c0.shape[0]):
                s = np.int32(0)
                for x in range(c0[c], c1[c]):
                    s += line[x]
                out[band, c] += s
            line[:] = 0
            band = rows[r]
        row = plane[r]
        for x in range(width):
            line[x] += row[x]
        if sq_step and r % sq_step == 0:
            row_sq = np.int32(0)
            for x in range(width):
                p = np.int32(row[x])
                row_sq += p * p
            sq += row_sq
    for c in range(c0.shape[0]):
        s = np.int32(0)
        for x in range(c0[c], c1[c]):
            s += line[x]
        out[band, c] += s
    return sq


@numba.njit(cache=True, nogil=True)
def _frame_sums(y, yw, yrows, yc0, yc1, u, v, cw, crows, cc0, cc1, out_y, out_u, out_v,
                sq_step):  # pragma: no cover - compiled
    """All three planes of a frame in one call (a compiled call costs microseconds)."""
    sq = _cell_sums(y, yw, yrows, yc0, yc1, out_y, sq_step)
    if cw > 0:
        _cell_sums(u, cw, crows, cc0, cc1, out_u, 0)
        _cell_sums(v, cw, crows, cc0, cc1, out_v, 0)
    return sq


_NO_PLANE = np.zeros((1, 1), np.uint8)


@lru_cache(maxsize=32)
def _cells(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Cell row of each pixel row, first and end column of each cell, pixels per cell, and the
    number of rows the sum of squares sees, for an h×w plane (planes smaller than the grid
    repeat pixels into several cells' worth of columns by giving cells zero width: they stay
    empty and are filled from their neighbours)."""
    if h > 257 * GRID:
        raise MediaError(f"picture too tall for fingerprinting: {h} rows")
    rows = np.minimum(np.arange(h) * GRID // max(h, 1), GRID - 1).astype(np.int32)
    cols = np.minimum(np.arange(w) * GRID // max(w, 1), GRID - 1)
    c0 = np.searchsorted(cols, np.arange(GRID), side="left").astype(np.int64)
    c1 = np.searchsorted(cols, np.arange(GRID), side="right").astype(np.int64)
    count = np.outer(np.bincount(rows, minlength=GRID), c1 - c0).astype(np.float32)
    sq_rows = len(range(0, h, SQ_ROW_STEP))
    return rows, c0, c1, count, sq_rows


# --- resampling and colour ------------------------------------------------------------------


@lru_cache(maxsize=16)
def area_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights averaging the input cells each output cell covers (area resize)."""
    m = np.zeros((n_out, n_in), np.float32)
    scale = n_in / n_out
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / m.sum(axis=1, keepdims=True)


def _resize(grids: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-resize a stack of (n, GRID, GRID) grids to (n, h, w)."""
    return area_matrix(h, GRID) @ grids @ area_matrix(w, GRID).T


def _luma_full(y: np.ndarray, full_range: bool) -> np.ndarray:
    """Luma on the full 0-255 scale."""
    return y if full_range else (y - np.float32(16.0)) * np.float32(255.0 / 219.0)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, full_range: bool,
               bt709: bool) -> np.ndarray:
    """RGB (0-255 float, stacked on a new last axis) from Y and centred U, V (U-128, V-128)."""
    kr, kb = (0.2126, 0.0722) if bt709 else (0.299, 0.114)
    kg = 1.0 - kr - kb
    if full_range:
        ey, pb, pr = y / 255.0, u / 255.0, v / 255.0
    else:
        ey, pb, pr = (y - 16.0) / 219.0, u / 224.0, v / 224.0
    r = ey + 2 * (1 - kr) * pr
    b = ey + 2 * (1 - kb) * pb
    g = (ey - kr * r - kb * b) / kg
    return np.stack([r, g, b], axis=-1) * 255.0


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans to (n,) uint64, first bit most significant (imagehash's hex order)."""
    packed = np.packbits(bits.reshape(len(bits), 64), axis=1, bitorder="big")
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def phash_of(gray32: np.ndarray) -> np.ndarray:
    """pHash of (n, 32, 32) grey pictures: 8×8 lowest DCT-II coefficients above their median."""
    # unscaled, as imagehash (scipy.fftpack.dct twice): scaling moves the first row and column
    low = scipy.fft.dctn(gray32.astype(np.float32, copy=False), axes=(1, 2))[:, :8, :8]
    low = low.reshape(len(gray32), 64)
    return pack_bits(low > np.median(low, axis=1, keepdims=True))


def dhash_of(gray32: np.ndarray) -> np.ndarray:
    """dHash of (n, 32, 32) grey pictures: an 8×9 resize, each cell against its right."""
    g = _resize(gray32.astype(np.float32, copy=False), 8, 9)
    return pack_bits(g[:, :, 1:] > g[:, :, :-1])


# --- the pass -------------------------------------------------------------------------------


class Accumulator:
    """Cell sums of up to `size` frames (`add`), turned into a FrameBatch (`flush`)."""

    def __init__(self, size: int, bt709: bool) -> None:
        self.size, self.bt709 = size, bt709
        self.y = np.zeros((size, GRID, GRID), np.int32)
        self.u = np.zeros((size, GRID, GRID), np.int32)
        self.v = np.zeros((size, GRID, GRID), np.int32)
        self.sq = np.zeros(size, np.float64)
        self.pixels = np.zeros(size, np.float64)
        self.sq_pixels = np.zeros(size, np.float64)
        self.index = np.zeros(size, np.int64)
        self.t = np.zeros(size, np.float64)
        self.rotation = np.zeros(size, np.int16)
        self.full = np.zeros(size, bool)
        self.counts = np.zeros(size, np.int32)
        self._count_ids: dict[tuple[int, int], int] = {}
        self._count_list: list[tuple[np.ndarray, np.ndarray]] = []
        self.chroma = np.zeros(size, bool)
        self.n = 0

    def add(self, f: DecodedFrame) -> None:
        """Sum one frame's planes into the next row."""
        chroma = f.u is not None and f.v is not None
        if min(f.y.shape[0], f.y_width) < GRID or (
                chroma and min(f.u.shape[0], f.c_width) < GRID):  # type: ignore[union-attr]
            f = _enlarged(f)
        i = self.n
        h = f.y.shape[0]
        rows, c0, c1, count, sq_rows = _cells(h, f.y_width)
        if chroma:
            crows, cc0, cc1, ccount, _ = _cells(f.u.shape[0], f.c_width)  # type: ignore[union-attr]
            u, v, cw = f.u, f.v, f.c_width
        else:
            crows, cc0, cc1, ccount = rows, c0, c1, count
            u, v, cw = _NO_PLANE, _NO_PLANE, 0
        self.sq[i] = _frame_sums(f.y, f.y_width, rows, c0, c1, u, v, cw, crows, cc0, cc1,
                                 self.y[i], self.u[i], self.v[i], SQ_ROW_STEP)
        self.pixels[i] = h * f.y_width
        self.sq_pixels[i] = sq_rows * f.y_width
        self.counts[i] = self._count_id(count, ccount)
        self.chroma[i] = chroma
        self.index[i] = f.index
        self.t[i] = f.t
        self.rotation[i] = f.rotation
        self.full[i] = f.full_range
        self.n += 1

    def _count_id(self, count: np.ndarray, ccount: np.ndarray) -> int:
        """A small number standing for a pair of per-cell pixel counts (one per picture size)."""
        key = (id(count), id(ccount))
        got = self._count_ids.get(key)
        if got is None:
            got = self._count_ids[key] = len(self._count_list)
            self._count_list.append((count, ccount))
        return got

    def flush(self) -> FrameBatch:
        """The fingerprints of the rows added since the last flush."""
        n = self.n
        ids = self.counts[:n]
        count_y = np.stack([c for c, _ in self._count_list])[ids]
        count_c = np.stack([c for _, c in self._count_list])[ids]
        y = self.y[:n].astype(np.float32) / count_y
        u = self.u[:n].astype(np.float32) / count_c - np.float32(128.0)
        v = self.v[:n].astype(np.float32) / count_c - np.float32(128.0)
        grey = ~self.chroma[:n]
        if grey.any():
            u[grey] = 0.0
            v[grey] = 0.0
        mean_y = self.y[:n].sum(axis=(1, 2), dtype=np.int64) / self.pixels[:n]
        var_y = np.maximum(self.sq[:n] / self.sq_pixels[:n] - mean_y**2, 0.0)
        for k in (1, 2, 3):  # display orientation: rotate the grids counter-clockwise
            sel = self.rotation[:n] == 90 * k
            if sel.any():
                y[sel], u[sel], v[sel] = (np.rot90(a[sel], k, axes=(1, 2)) for a in (y, u, v))
        ty, tu, tv = (_resize(a, THUMB_H, THUMB_W) for a in (y, u, v))
        means = [a.mean(axis=(1, 2)) for a in (y, u, v)]
        stats = np.zeros((n, len(STATS)), np.float32)
        tl = np.zeros((n, THUMB_H, THUMB_W), np.float32)
        rgb = np.zeros((n, THUMB_H, THUMB_W, 3), np.float32)
        color = np.zeros((n, 3), np.float32)
        for full in (False, True):  # usually one pass: a stream has one range
            sel = self.full[:n] == full
            if not sel.any():
                continue
            gain = 1.0 if full else 255.0 / 219.0
            stats[sel, 0] = mean_y[sel] if full else (mean_y[sel] - 16.0) * gain
            stats[sel, 1] = np.sqrt(var_y[sel]) * gain
            stats[sel, 2] = y[sel].reshape(int(sel.sum()), -1).std(axis=1) * gain
            tl[sel] = _luma_full(ty[sel], full)
            rgb[sel] = yuv_to_rgb(ty[sel], tu[sel], tv[sel], full_range=full, bt709=self.bt709)
            color[sel] = yuv_to_rgb(*(m[sel] for m in means), full_range=full, bt709=self.bt709)
        batch = FrameBatch(
            index=self.index[:n].copy(), t=self.t[:n].copy(), phash=phash_of(y),
            dhash=dhash_of(y), color=_u8(color), stats=stats, thumb_gray=_u8(tl),
            thumb_color=_u8(rgb),
        )
        self.y[:n] = 0
        self.u[:n] = 0
        self.v[:n] = 0
        self.chroma[:n] = False
        self.n = 0
        return batch


def _enlarged(f: DecodedFrame) -> DecodedFrame:
    """A copy of a picture smaller than the grid with pixels repeated, so no cell is empty."""

    def grow(plane: np.ndarray | None, width: int) -> np.ndarray | None:
        if plane is None:
            return None
        plane = plane[:, :width]
        if min(plane.shape) >= GRID:
            return plane
        ry = -(-GRID // plane.shape[0])
        rx = -(-GRID // plane.shape[1])
        return np.ascontiguousarray(np.repeat(np.repeat(plane, ry, axis=0), rx, axis=1))

    y = grow(f.y, f.y_width)
    u, v = grow(f.u, f.c_width), grow(f.v, f.c_width)
    assert y is not None
    return DecodedFrame(f.index, f.t, y, u, v, y.shape[1], u.shape[1] if u is not None else 0,
                        f.full_range, f.rotation)


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def is_hd(info: VideoInfo) -> bool:
    """Whether to read colour as BT.709 (HD) rather than BT.601, as ffmpeg guesses."""
    return info.height >= 720 or info.width >= 1280


def iter_fingerprints(reader: VideoReader, params: FingerprintParams) -> Iterator[FrameBatch]:
    """Fingerprint every `params.every`-th frame of an open reader, `params.batch` at a time."""
    info = reader.info
    acc = Accumulator(params.batch, bt709=is_hd(info))
    for frame in reader.frames(params.every, params.rate):
        acc.add(frame)
        if acc.n == acc.size:
            yield acc.flush()
    if acc.n:
        yield acc.flush()


def fingerprint_file(path: str | Path, params: FingerprintParams | None = None) -> Fingerprints:
    """A whole file's fingerprints in memory (use `store.write_frame_set` for long files)."""
    params = params or FingerprintParams()
    with VideoReader(path, threads=params.threads, fast=params.fast) as reader:
        batches = list(iter_fingerprints(reader, params))
        if not batches:
            raise MediaError(f"{path}: video stream holds no decodable frames")
        frames = FrameBatch.concat(batches)
        return Fingerprints(info=reader.info, frames=frames, decode_errors=reader.decode_errors,
                            params=params)


def warm_up() -> None:
    """Compile the per-plane pass now (e.g. before a worker forks), not on the first frame."""
    out = np.zeros((GRID, GRID), np.int32)
    rows, c0, c1, _, _ = _cells(GRID, GRID)
    plane = np.zeros((GRID, GRID), np.uint8)
    _frame_sums(plane, GRID, rows, c0, c1, plane, plane, GRID, rows, c0, c1, out, out.copy(),
                out.copy(), SQ_ROW_STEP)
    _frame_sums(plane, GRID, rows, c0, c1, _NO_PLANE, _NO_PLANE, 0, rows, c0, c1, out,
                out.copy(), out.copy(), SQ_ROW_STEP)

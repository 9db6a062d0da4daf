"""Matching runs of frames between two frame sequences (or one with itself) along a diagonal.

A repeat of a stretch of film shows up as a diagonal: frames i, i+1, ... of one sequence match
frames i+d, i+d+1, ... of the other. Here a seed pair of matching frames is aligned to the
exact diagonal (mean grey-thumbnail distance, which tells neighbouring frames apart better
than 64 bits can), grown both ways frame by frame, and checked for specificity: the content
must match on its diagonal clearly better than one or two frames off it, which is what a
static shot, a black screen or a slow fade can never do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.frames.hashindex import as_codes, hamming

MATCH, NEUTRAL, MISMATCH = 0, 1, 2


@dataclass
class Seq:
    """The per-frame arrays matching needs, for one file's processed frames."""

    codes: np.ndarray  # (n, 2) uint64: pHash, dHash
    informative: np.ndarray  # (n,) bool: enough picture to compare
    luma: np.ndarray  # (n,) float32 mean luma
    thumbs: np.ndarray | None  # (n, 9, 16) uint8 grey thumbnails (may be memory-mapped)
    t: np.ndarray  # (n,) float64 seconds
    fps: float

    def __len__(self) -> int:
        return len(self.codes)

    @staticmethod
    def from_arrays(phash: np.ndarray, dhash: np.ndarray, stats: np.ndarray,
                    thumb_gray: np.ndarray, t: np.ndarray, fps: float, *,
                    min_contrast: float) -> Seq:
        """A sequence from stored fingerprint arrays; frames under `min_contrast` are flat."""
        stats = np.asarray(stats, np.float32)
        return Seq(as_codes(phash, dhash), stats[:, 2] >= min_contrast, stats[:, 0].copy(),
                   thumb_gray, np.asarray(t, np.float64), fps)

    def norm_thumbs(self, rows: np.ndarray) -> np.ndarray:
        """Grey thumbnails of `rows`, each shifted to mean 0 and scaled to std 1 (so a change
        of brightness or contrast does not count as a difference), as (k, 144) float32."""
        assert self.thumbs is not None
        g = np.asarray(self.thumbs[rows], np.float32).reshape(len(rows), -1)
        g -= g.mean(axis=1, keepdims=True)
        g /= g.std(axis=1, keepdims=True) + 1.0
        return g


@dataclass(frozen=True)
class MatchParams:
    """Per-frame tolerance and the shape a run must have to count."""

    tolerance: int = 16  # most pHash + dHash bits (of 128) two matching frames may differ by
    max_gap: int = 3  # consecutive non-matching frames tolerated inside a run
    flat_luma: float = 12.0  # flat frames continue a run when their mean luma is this close
    min_frames: int = 25  # shortest run (processed frames)
    specificity: float = 1.5  # two frames off the diagonal must match this much worse
    min_margin: float = 0.015  # ... and by at least this much (normalised thumbnail units)
    align_radius: int = 3  # how far off the seed's diagonal to look for the best alignment
    min_offset: int = 1  # against itself, a sequence repeats only this many frames on or more


def status(a: Seq, b: Seq, ia: np.ndarray, ib: np.ndarray, p: MatchParams) -> np.ndarray:
    """MATCH, NEUTRAL (both flat and alike) or MISMATCH for frame pairs (ia[k], ib[k])."""
    d = hamming(a.codes[ia], b.codes[ib])
    inf_a, inf_b = a.informative[ia], b.informative[ib]
    out = np.full(len(ia), MISMATCH, np.int8)
    out[inf_a & inf_b & (d <= p.tolerance)] = MATCH
    flat = ~inf_a & ~inf_b & (np.abs(a.luma[ia] - b.luma[ib]) <= p.flat_luma)
    out[flat] = NEUTRAL
    return out


def _grow(a: Seq, b: Seq, i: int, j: int, step: int, p: MatchParams) -> int:
    """How many frames past (i, j) the run continues in direction `step`, to its last MATCH."""
    last = 0
    k = 1
    gap = 0
    block = 64
    while True:
        ks = np.arange(k, k + block)
        ia, ib = i + step * ks, j + step * ks
        ok = (ia >= 0) & (ia < len(a)) & (ib >= 0) & (ib < len(b))
        if not ok.any():
            return last
        ks, ia, ib = ks[ok], ia[ok], ib[ok]
        st = status(a, b, ia, ib, p)
        for kk, s in zip(ks.tolist(), st.tolist(), strict=True):
            if s == MATCH:
                last, gap = kk, 0
            elif s == MISMATCH:
                gap += 1
                if gap > p.max_gap:
                    return last
        if not ok.all():
            return last
        k += block
        block = min(block * 2, 1 << 16)


def extend(a: Seq, b: Seq, i: int, j: int, p: MatchParams) -> tuple[int, int]:
    """The run through matching pair (i, j) along its diagonal: (first i, length)."""
    back = _grow(a, b, i, j, -1, p)
    fwd = _grow(a, b, i, j, +1, p)
    return i - back, back + fwd + 1


def _frames_of(a: Seq, start: int, length: int, samples: int) -> np.ndarray:
    """Up to `samples` informative frames of a[start:start + length], evenly spread."""
    k = np.arange(length)
    if length > samples:
        k = np.unique(np.linspace(0, length - 1, samples).round().astype(np.int64))
    ia = start + k
    return ia[a.informative[ia]]


def shifted_distances(a: Seq, b: Seq, ia: np.ndarray, offset: int,
                      shifts: range) -> np.ndarray:
    """(len(shifts), len(ia)) normalised-thumbnail distance between a[i] and b[i + offset + s]
    (inf where b has no such frame)."""
    out = np.full((len(shifts), len(ia)), np.inf)
    if not len(ia):
        return out
    use_thumbs = a.thumbs is not None and b.thumbs is not None
    ga = a.norm_thumbs(ia) if use_thumbs else None
    lo = max(0, int(ia.min()) + offset + min(shifts))
    hi = min(len(b), int(ia.max()) + offset + max(shifts) + 1)
    if hi <= lo:
        return out
    gb = b.norm_thumbs(np.arange(lo, hi)) if use_thumbs else None  # each b frame once
    for n, s in enumerate(shifts):
        ib = ia + offset + s
        ok = (ib >= lo) & (ib < hi)
        if not ok.any():
            continue
        if ga is not None and gb is not None:
            out[n, ok] = np.abs(ga[ok] - gb[ib[ok] - lo]).mean(axis=1)
        else:  # no thumbnails (synthetic fingerprints): the share of differing bits
            out[n, ok] = hamming(a.codes[ia[ok]], b.codes[ib[ok]]) / 128.0
    return out


def diagonal_distance(a: Seq, b: Seq, start: int, offset: int, length: int,
                      shifts: range, *, samples: int = 600) -> np.ndarray:
    """Mean normalised-thumbnail distance between a[start + k] and b[start + offset + s + k]
    for each shift s, over up to `samples` informative frames of the run (inf where fewer
    than half of them have a partner)."""
    ia = _frames_of(a, start, length, samples)
    d = shifted_distances(a, b, ia, offset, shifts)
    fin = np.isfinite(d)
    enough = fin.sum(axis=1) >= max(3, len(ia) // 2)
    mean = np.where(fin, d, 0.0).sum(axis=1) / np.maximum(fin.sum(axis=1), 1)
    return np.where(enough, mean, np.inf)


def best_offset(a: Seq, b: Seq, i: int, offset: int, p: MatchParams, *, self_seq: bool,
                window: int) -> int:
    """The diagonal near `offset` on which frames around i match best."""
    lo = max(0, i - window // 2)
    hi = min(len(a), i + window // 2 + 1)
    shifts = range(-p.align_radius, p.align_radius + 1)
    dist = diagonal_distance(a, b, lo, offset, hi - lo, shifts)
    if self_seq:  # a diagonal this close is the sequence against itself, not a repeat
        dist = np.where(np.array([offset + s for s in shifts]) < p.min_offset, np.inf, dist)
    if not np.isfinite(dist).any():
        return offset
    return offset + shifts[int(np.argmin(dist))]


def specific(a: Seq, b: Seq, start: int, offset: int, length: int, p: MatchParams,
             *, self_seq: bool, samples: int = 600) -> tuple[bool, float]:
    """Whether the run is pinned to its diagonal: over its interior, the partners two frames
    off match clearly worse on average than the partners on it, and one frame off no better
    (a static shot or a fade matches its neighbours as well as itself). Also the on-diagonal
    distance."""
    inner = length - 4
    if inner < 3:
        return False, float("inf")
    ia = _frames_of(a, start + 2, inner, samples)
    shifts = range(-2, 3)
    d = shifted_distances(a, b, ia, offset, shifts)
    if self_seq:  # offsets <= 0 compare the sequence with itself
        for n, s in enumerate(shifts):
            if offset + s <= 0:
                d[n] = np.inf
    fin = np.isfinite(d)
    mean = np.where(fin.sum(axis=1) >= max(3, len(ia) // 2),
                    np.where(fin, d, 0.0).sum(axis=1) / np.maximum(fin.sum(axis=1), 1), np.inf)
    on = float(mean[2])
    two = float(min(mean[0], mean[4]))
    one = float(min(mean[1], mean[3]))
    if not np.isfinite(on) or not np.isfinite(min(one, two)):
        return False, on
    ok = two >= on * p.specificity and two - on >= p.min_margin and one > on
    return bool(ok), on


@dataclass(frozen=True)
class Run:
    """Frames [start, start + length) of sequence a matching [start + offset, ...) of b."""

    start: int
    offset: int
    length: int
    matched: int  # frames with a MATCH (the rest are flat frames or tolerated gaps)
    bits: float  # mean pHash + dHash distance over matched frames
    thumb_distance: float


def measure(a: Seq, b: Seq, start: int, offset: int, length: int, p: MatchParams) -> tuple[int,
                                                                                         float]:
    """Matched frames and their mean code distance along a run."""
    ia = np.arange(start, start + length)
    ib = ia + offset
    st = status(a, b, ia, ib, p)
    m = st == MATCH
    bits = float(hamming(a.codes[ia[m]], b.codes[ib[m]]).mean()) if m.any() else 128.0
    return int(m.sum()), bits


def run_from_seed(a: Seq, b: Seq, i: int, j: int, p: MatchParams, *,
                  self_seq: bool) -> tuple[Run | None, tuple[int, int, int]]:
    """Align, grow and check the run through seed pair (i, j).

    Returns the run (or None when it is too short or not specific) and the (offset, first,
    length) it covered, so the caller can skip other seeds on the same stretch of diagonal.
    """
    offset = best_offset(a, b, i, j - i, p, self_seq=self_seq, window=p.min_frames)
    if i + offset < 0 or i + offset >= len(b) or (self_seq and offset < p.min_offset):
        return None, (j - i, i, 1)
    st = status(a, b, np.array([i]), np.array([i + offset]), p)
    if st[0] != MATCH:
        offset = j - i
    start, length = extend(a, b, i, i + offset, p)
    seen = {offset}
    for _ in range(8):  # re-align on the whole run, grow again, until the diagonal settles
        if length < max(3, p.min_frames // 2):  # a chance match, not a misaligned run
            break
        mid = start + length // 2
        better = best_offset(a, b, mid, offset, p, self_seq=self_seq,
                             window=max(length, p.min_frames))
        if better in seen or not 0 <= mid + better < len(b):
            break
        if status(a, b, np.array([mid]), np.array([mid + better]), p)[0] != MATCH:
            break
        seen.add(better)
        offset = better
        start, length = extend(a, b, mid, mid + offset, p)
    covered = (offset, start, length)
    if length < p.min_frames:
        return None, covered
    matched, bits = measure(a, b, start, offset, length, p)
    if matched < max(p.min_frames // 2, 2):
        return None, covered
    ok, thumb = specific(a, b, start, offset, length, p, self_seq=self_seq)
    if not ok:
        return None, covered
    return Run(start, offset, length, matched, bits, thumb), covered


def thin(codes: np.ndarray, informative: np.ndarray, min_change: int) -> np.ndarray:
    """Rows worth indexing: informative frames whose pHash moved at least `min_change` bits
    since the last row kept (a static shot keeps one row, moving content nearly all)."""
    rows = np.flatnonzero(informative)
    if min_change <= 0 or len(rows) < 2:
        return rows
    ph = codes[rows, 0]
    step = np.bitwise_count(ph[1:] ^ ph[:-1])
    keep = np.ones(len(rows), bool)
    # consecutive near-identical frames: drop the later ones (exact "since last kept" is a
    # sequential scan; comparing with the previous frame is its vectorised approximation,
    # with every 8th dropped frame kept so slow drifts still leave a trace)
    still = step < min_change
    keep[1:] = ~still
    run_pos = np.cumsum(still) - np.maximum.accumulate(np.where(~still, np.cumsum(still), 0))
    keep[1:] |= still & (run_pos % 8 == 0)
    return rows[keep]


def runs_from_seeds(a: Seq, b: Seq, i: np.ndarray, j: np.ndarray, mp: MatchParams,
                     *, self_seq: bool) -> list[Run]:
    """Grow seeds in order of offset then position, skipping seeds on stretches already
    covered (found or rejected) and seeds implied by a periodic run found earlier."""
    order = np.lexsort((i, j - i))
    i, j = i[order], j[order]
    d = j - i
    done = np.zeros(len(i), bool)
    runs: list[Run] = []
    periodic: list[Run] = []
    for s in range(len(i)):
        if done[s]:
            continue
        si, sd = int(i[s]), int(d[s])
        if self_seq and any(_implied(si, sd, r) for r in periodic):
            done[s] = True
            continue
        run, (off, lo, length) = run_from_seed(a, b, si, si + sd, mp, self_seq=self_seq)
        # a run found covers its neighbouring diagonals too; a rejected one only its own
        slack = 8 * mp.align_radius if run is not None else 0  # as far as alignment moves
        _cover(i, d, done, off, lo - mp.max_gap, lo + length + mp.max_gap, s, slack=slack)
        _cover(i, d, done, sd, si - mp.min_frames, si + mp.min_frames, s, slack=0)
        if run is not None:
            runs.append(run)
            if self_seq and run.length >= run.offset:
                periodic.append(run)
    return runs


def _cover(i: np.ndarray, d: np.ndarray, done: np.ndarray, off: int, lo: int, hi: int,
           s: int, *, slack: int) -> None:
    """Mark seeds with offset within `slack` of `off` and position in [lo, hi] as handled."""
    a = np.searchsorted(d, off - slack, side="left")
    b = np.searchsorted(d, off + slack, side="right")
    if a >= b:
        done[s] = True
        return
    for dd in np.unique(d[a:b]):
        x = np.searchsorted(d, dd, side="left")
        y = np.searchsorted(d, dd, side="right")
        p = x + np.searchsorted(i[x:y], lo, side="left")
        q = x + np.searchsorted(i[x:y], hi, side="right")
        done[p:q] = True
    done[s] = True


def _implied(i: int, d: int, r: Run) -> bool:
    """Whether seed (i, i + d) lies on a multiple of periodic run r's period, inside it."""
    k = round(d / r.offset)
    if k < 2 or abs(d - k * r.offset) > k + 24:  # 24: as far as alignment moves a seed
        return False
    return r.start - 2 <= i and i + d <= r.start + r.offset + r.length + 2

"""Loops within a file: stretches of moving picture shown again later in the same file.

Seeds are pairs of frames whose pHash and dHash agree (multi-index hashing over the frames
worth indexing, so static shots and flat frames never flood it); each seed is aligned, grown
into a run of consecutive matching frames and kept when it is long enough and specific (see
`align`). Runs implied by others are dropped: a repeat of a repeat is reported once, from the
content's first showing, and content repeating back to back is one loop with its period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worker.frames.align import MatchParams, Run, Seq, runs_from_seeds, thin
from worker.frames.hashindex import HashIndex, hamming, unique_sorted


@dataclass(frozen=True)
class LoopParams:
    """What counts as a loop (times in seconds of the file)."""

    min_length: float = 1.0  # shortest repeated stretch
    min_offset: float = 1.0  # shortest time between a stretch and its repeat
    tolerance: int = 16  # most pHash + dHash bits (of 128) matching frames may differ by
    min_contrast: float = 4.0  # frames with less (black, flat, fades' ends) are not compared
    max_gap: int = 3  # consecutive unmatched frames tolerated inside a loop
    seed_tolerance: int = 8  # seeds must be this close (bits)
    thin_bits: int = 2  # index a frame when its pHash moved this many bits
    chunk_bits: int = 16  # multi-index hashing chunk (16: 8 tables over 128 bits)
    max_bucket: int = 2048
    max_later: int = 8  # seeds per frame: its nearest later matches (copies counted exactly
    # up to this many; a regular loop needs only its period)

    def match(self, fps: float) -> MatchParams:
        """The per-frame matching parameters at `fps` processed frames per second."""
        return MatchParams(tolerance=self.tolerance, max_gap=self.max_gap,
                           min_frames=max(3, round(self.min_length * fps)),
                           min_offset=max(MatchParams.align_radius + 3,
                                          round(self.min_offset * fps)))


@dataclass
class Loop:
    """Frames [first, first + frames) shown again at [repeat, repeat + frames).

    Frame numbers count processed frames (every frame unless the fingerprints skipped some);
    times are seconds. `period` is set when the content repeats at a regular spacing (back to
    back, or with the same gap each time); `copies` counts the showings of this content.
    """

    first: int
    repeat: int
    frames: int
    first_start: float
    repeat_start: float
    length: float
    similarity: float
    period: float | None = None
    copies: int = 2
    matched: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly fields."""
        return {k: v for k, v in self.__dict__.items() if k != "extra"}


def find_runs(seq: Seq, params: LoopParams) -> list[Run]:
    """Every specific diagonal run of `seq` against itself at offsets >= min_offset."""
    fps = seq.fps or 25.0
    mp = params.match(fps)
    rows = thin(seq.codes, seq.informative, params.thin_bits)
    if len(rows) < 2:
        return []
    index = HashIndex(seq.codes[rows], chunk_bits=params.chunk_bits,
                      max_bucket=params.max_bucket)
    i, j = _seeds(index, seq.codes[rows], rows, params, mp.min_offset)
    return runs_from_seeds(seq, seq, i, j, mp, self_seq=True)


def _distinct(qi: np.ndarray, off: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Each (query, offset) pair once (chunks of the index find a pair several times)."""
    key = unique_sorted(qi * span + off)
    return key // span, key % span


def _nearest_later(qi: np.ndarray, off: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` smallest offsets of each query (qi grouped in any order)."""
    order = np.lexsort((off, qi))
    q = qi[order]
    first = np.searchsorted(q, q, side="left")
    rank = np.arange(len(q)) - first
    return order[rank < k]


def _seeds(index: HashIndex, codes: np.ndarray, rows: np.ndarray, params: LoopParams,
           min_offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed pairs (i, j), j - i >= min_offset: for each indexed frame, its `max_later`
    nearest later matches. A film looped a hundred times would otherwise give every frame a
    hundred partners (the period's multiples are implied by the first), and memory would
    grow with the square of the loop count; queries go in small blocks for the same reason."""
    out_q, out_off = [], []
    span = int(rows.max(initial=0)) + 1
    for qi, ent in index.candidates(codes, block=1 << 13, max_pairs=2_000_000, dedupe=False):
        d = hamming(codes[qi], index.codes[ent])
        off = rows[ent] - rows[qi]
        keep = (d <= params.seed_tolerance) & (off >= min_offset)
        qi, off = _distinct(qi[keep], off[keep], span)
        sel = _nearest_later(qi, off, params.max_later)
        out_q.append(qi[sel])
        out_off.append(off[sel])
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qi, off = _distinct(np.concatenate(out_q), np.concatenate(out_off), span)
    sel = _nearest_later(qi, off, params.max_later)
    i = rows[qi[sel]]
    return i, i + off[sel]


def _redundant(s: Run, runs: list[Run], tol: int) -> bool:
    """Whether run s is implied by the others: a multiple of a periodic run covering it, or a
    repeat of content whose first showing already matches both of s's copies."""
    for t in runs:
        if t is s:
            continue
        if t.length >= t.offset and s.offset > t.offset:  # periodic t covers s?
            k = round(s.offset / t.offset)
            if (k >= 2 and abs(s.offset - k * t.offset) <= k + tol
                    and t.start - tol <= s.start
                    and s.start + s.offset + s.length <= t.start + t.offset + t.length + tol):
                return True
        # s's first copy lies inside t's repeat: content shown earlier at s.start - t.offset
        if (t.start + t.offset - tol <= s.start
                and s.start + s.length <= t.start + t.offset + t.length + tol):
            earlier = s.start - t.offset
            for u in runs:
                if u is s or u is t:
                    continue
                if (abs(u.offset - (s.offset + t.offset)) <= tol and u.start - tol <= earlier
                        and earlier + s.length <= u.start + u.length + tol):
                    return True
    return False


def find_loops(seq: Seq, params: LoopParams | None = None) -> list[Loop]:
    """The loops of one file, each from the first showing of its content, with periods."""
    params = params or LoopParams()
    runs = find_runs(seq, params)
    tol = 2
    runs = sorted({(r.start, r.offset, r.length): r for r in runs}.values(),
                  key=lambda r: (r.start, r.offset))
    kept = [r for r in runs if not _redundant(r, runs, tol)]
    return _as_loops(seq, kept, params.match(seq.fps or 25.0).min_frames)


def _as_loops(seq: Seq, runs: list[Run], min_frames: int) -> list[Loop]:
    """Loops from runs: a back-to-back run becomes one row per copy after the first."""
    fps = seq.fps or 25.0
    step = 1.0 / fps
    loops = []
    by_first: dict[int, list[int]] = {}
    for r in runs:
        if r.length < r.offset:
            by_first.setdefault(r.start, []).append(r.offset)

    def loop(a: int, b: int, frames: int, r: Run) -> Loop:
        end = a + frames - 1
        return Loop(first=a, repeat=b, frames=frames, first_start=round(float(seq.t[a]), 6),
                    repeat_start=round(float(seq.t[b]), 6),
                    length=round(float(seq.t[end] - seq.t[a]) + step, 6),
                    similarity=round(max(0.0, 1.0 - r.bits / 64.0), 4), matched=r.matched)

    for r in runs:
        a, p = r.start, r.offset
        if r.length >= p:  # back to back: copy k of [a, a + p) starts at a + k p
            rows = []
            k = 1
            while (k - 1) * p < r.length:
                frames = min(p, r.length - (k - 1) * p)
                if frames < min_frames and k > 1:
                    break
                rows.append(loop(a, a + k * p, frames, r))
                k += 1
            for row in rows:
                row.period = round(float(seq.t[a + p] - seq.t[a]), 6)
                row.copies = 1 + len(rows)
            loops += rows
            continue
        row = loop(a, a + p, r.length, r)
        group = sorted(by_first.get(a, []))
        row.copies = 1 + len(group)
        if len(group) >= 2 and all(abs(o - (k + 1) * group[0]) <= k + 2
                                   for k, o in enumerate(group)):
            row.period = round(float(seq.t[a + group[0]] - seq.t[a]), 6)
        loops.append(row)
    return loops

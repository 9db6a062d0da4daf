"""Duplicates across a collection: stretches of one file's picture that appear in another.

Every file's frames worth indexing (informative, thinned where the picture stands still) are
pooled; every `index_every`-th of them per file goes into one multi-index hash table over the
128-bit pHash + dHash codes, and all of them query it, so any shared stretch longer than a few
indexed frames yields seeds. Seeds are grouped by file pair and grown into runs as in `loops`,
so the report gives both files, both start times and the length, exact to a frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from worker.frames.align import MatchParams, Seq, runs_from_seeds, thin
from worker.frames.hashindex import HashIndex, hamming


@dataclass(frozen=True)
class DuplicateParams:
    """What counts as a duplicate (times in seconds)."""

    min_length: float = 2.0
    tolerance: int = 16
    min_contrast: float = 4.0
    max_gap: int = 3
    seed_tolerance: int = 8
    thin_bits: int = 2
    index_every: int = 4
    chunk_bits: int = 32
    max_bucket: int = 4096

    def match(self, fps: float) -> MatchParams:
        return MatchParams(tolerance=self.tolerance, max_gap=self.max_gap,
                           min_frames=max(3, round(self.min_length * fps)))


@dataclass
class Duplicate:
    """Frames [a_first, a_first + frames) of file `a` shown at [b_first, ...) of file `b`."""

    a: Hashable
    b: Hashable
    a_first: int
    b_first: int
    frames: int
    a_start: float
    b_start: float
    length: float
    similarity: float
    matched: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SearchStats:
    """Sizes and counts of one search, for benchmarks and logs."""

    files: int = 0
    frames: int = 0
    queries: int = 0
    indexed: int = 0
    index_bytes: int = 0
    candidates: int = 0
    seeds: int = 0
    pairs: int = 0


def seeds_between(codes: list[np.ndarray], params: DuplicateParams,
                  stats: SearchStats | None = None) -> dict[tuple[int, int], tuple[np.ndarray,
                                                                                   np.ndarray]]:
    """Seed pairs between files from each file's (rows, codes) of frames worth indexing.

    `codes[f]` is an (n_f, 3) uint64 array: row number in file f, pHash, dHash. Returns
    {(f, g): (rows in f, rows in g)} for f < g.
    """
    stats = stats or SearchStats()
    if len(codes) < 2:
        return {}
    sizes = np.array([len(c) for c in codes], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    allc = np.concatenate([c[:, 1:] for c in codes]) if len(codes) else np.zeros((0, 2), np.uint64)
    rows = np.concatenate([c[:, 0] for c in codes]).astype(np.int64) if len(codes) else \
        np.zeros(0, np.int64)
    fid = np.repeat(np.arange(len(codes)), sizes)
    local = np.arange(len(allc)) - offsets[fid]
    indexed = np.flatnonzero(local % params.index_every == 0)
    index = HashIndex(allc[indexed], chunk_bits=params.chunk_bits, max_bucket=params.max_bucket)
    stats.queries, stats.indexed, stats.index_bytes = len(allc), len(indexed), index.nbytes
    out_q, out_e = [], []
    for qi, ent in index.candidates(allc):
        stats.candidates += len(qi)
        ge = indexed[ent]
        keep = fid[qi] < fid[ge]
        qi, ge = qi[keep], ge[keep]
        close = hamming(allc[qi], allc[ge]) <= params.seed_tolerance
        out_q.append(qi[close])
        out_e.append(ge[close])
    q = np.concatenate(out_q) if out_q else np.zeros(0, np.int64)
    e = np.concatenate(out_e) if out_e else np.zeros(0, np.int64)
    if not len(q):
        return {}
    stats.seeds = len(q)
    pair = fid[q] * len(codes) + fid[e]
    order = np.argsort(pair, kind="stable")
    q, e, pair = q[order], e[order], pair[order]
    cuts = np.flatnonzero(np.diff(pair)) + 1
    result = {}
    for s, t in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(pair)]]), strict=True):
        f, g = divmod(int(pair[s]), len(codes))
        result[(f, g)] = (rows[q[s:t]], rows[e[s:t]])
    stats.pairs = len(result)
    return result


def indexable(seq: Seq, params: DuplicateParams) -> np.ndarray:
    """(n, 3) uint64 rows of a file worth indexing: row number, pHash, dHash."""
    rows = thin(seq.codes, seq.informative, params.thin_bits)
    return np.column_stack([rows.astype(np.uint64), seq.codes[rows, 0], seq.codes[rows, 1]])


def find_duplicates(keys: Sequence[Hashable], load: Callable[[Hashable], Seq],
                    params: DuplicateParams | None = None, *,
                    stats: SearchStats | None = None, cache: int = 8) -> list[Duplicate]:
    """Every shared stretch between two different files among `keys` (`load(key)` gives a
    file's Seq; it is called twice per file at most, plus once per pair being verified when
    more than `cache` files are involved)."""
    params = params or DuplicateParams()
    stats = stats or SearchStats()
    stats.files = len(keys)
    codes = []
    for key in keys:
        seq = load(key)
        stats.frames += len(seq)
        codes.append(indexable(seq, params))
    seeds = seeds_between(codes, params, stats)
    loaded: OrderedDict[int, Seq] = OrderedDict()

    def get(f: int) -> Seq:
        if f in loaded:
            loaded.move_to_end(f)
            return loaded[f]
        loaded[f] = load(keys[f])
        if len(loaded) > cache:
            loaded.popitem(last=False)
        return loaded[f]

    found: list[Duplicate] = []
    for (f, g), (i, j) in sorted(seeds.items()):
        a, b = get(f), get(g)
        mp = params.match(min(a.fps or 25.0, b.fps or 25.0))
        runs = runs_from_seeds(a, b, i, j, mp, self_seq=False)
        unique = {(r.start, r.offset, r.length): r for r in runs}.values()
        for r in sorted(unique, key=lambda r: (r.start, r.offset)):
            end = r.start + r.length - 1
            step = 1.0 / (a.fps or 25.0)
            found.append(Duplicate(
                a=keys[f], b=keys[g], a_first=r.start, b_first=r.start + r.offset,
                frames=r.length, a_start=round(float(a.t[r.start]), 6),
                b_start=round(float(b.t[r.start + r.offset]), 6),
                length=round(float(a.t[end] - a.t[r.start]) + step, 6),
                similarity=round(max(0.0, 1.0 - r.bits / 64.0), 4), matched=r.matched))
    return found

"""Choose a source frame for every target frame: k candidates each, smoothed by Viterbi.

The candidates of target frame t are its k nearest source frames plus the next frame of each
candidate of t - 1, so a run can always continue. A pick costs its squared distance to the
target; moving to anything but the next frame of the previous pick costs `jump`, so the
picture plays runs of consecutive frames instead of jittering. The best path is solved
exactly per block of frames, each block starting from where the previous one ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.render.resynth.index import FrameIndex


@dataclass(frozen=True)
class Match:
    """The chosen global row per target frame, its distance, and what the costs were."""

    rows: np.ndarray
    distances: np.ndarray
    jump: float
    search_seconds: float = 0.0

    def runs(self) -> int:
        """How many runs of consecutive source frames the picks form."""
        if self.rows.size == 0:
            return 0
        return int(1 + np.count_nonzero(np.diff(self.rows) != 1))


def jump_cost(knn_d: np.ndarray, continuity: float) -> float:
    """The cost of a cut: `continuity` × the median distance to the k-th candidate."""
    finite = knn_d[:, -1][np.isfinite(knn_d[:, -1])]
    scale = float(np.median(finite)) if finite.size else 1.0
    return continuity * max(scale, 1e-6)


def viterbi(index: FrameIndex, queries: np.ndarray, knn_d: np.ndarray, knn_i: np.ndarray,
            *, jump: float, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest path of rows (and their distances) through the candidates, per block."""
    t_total = queries.shape[0]
    rows = np.empty(t_total, np.int64)
    dists = np.empty(t_total, np.float32)
    prev_last: int | None = None
    for b0 in range(0, t_total, block):
        b1 = min(t_total, b0 + block)
        cands: list[np.ndarray] = []
        costs: list[np.ndarray] = []
        backs: list[np.ndarray] = []
        prev_c: np.ndarray | None = None
        acc: np.ndarray | None = None
        for t in range(b0, b1):
            c = knn_i[t][knn_i[t] >= 0]
            d = knn_d[t][knn_i[t] >= 0]
            succ_of = prev_c if prev_c is not None else (
                np.array([prev_last], np.int64) if prev_last is not None else None)
            if succ_of is not None:
                s = index.successor(succ_of)
                s = s[(s >= 0) & ~np.isin(s, c)]
                if s.size:
                    s = np.unique(s)
                    c = np.concatenate([c, s])
                    d = np.concatenate([d, index.distances(queries[t : t + 1], s[None])[0]])
            if prev_c is None:
                start = np.full(c.size, jump, np.float64)
                if prev_last is not None:
                    start[c == prev_last + 1] = 0.0
                acc_t = d + start
                back = np.full(c.size, -1, np.int64)
            else:
                best = int(np.argmin(acc))
                acc_t = d + acc[best] + jump
                back = np.full(c.size, best, np.int64)
                order = np.argsort(prev_c)
                pos = np.searchsorted(prev_c, c - 1, sorter=order)
                pos = np.minimum(pos, prev_c.size - 1)
                pred = order[pos]
                cont = (prev_c[pred] == c - 1) & (index.successor(prev_c[pred]) == c)
                stay = acc[pred] + d
                better = cont & (stay < acc_t)
                acc_t = np.where(better, stay, acc_t)
                back = np.where(better, pred, back)
            cands.append(c)
            costs.append(d)
            backs.append(back)
            prev_c, acc = c, acc_t
        j = int(np.argmin(acc))
        for t in range(b1 - 1, b0 - 1, -1):
            rows[t] = cands[t - b0][j]
            dists[t] = costs[t - b0][j]
            j = int(backs[t - b0][j])
        prev_last = int(rows[b1 - 1])
    return rows, dists

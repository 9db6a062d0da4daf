"""Segment-level precision and recall of found repeats against planted truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Score:
    precision: float
    recall: float
    worst_boundary: int  # largest start/length error (frames) among matched segments
    false: list
    missed: list


def score(found: Sequence[tuple], truth: Sequence[tuple], *, keys: int = 0,
          tol: int = 1) -> Score:
    """Match tuples (the first `keys` items equal, the rest numbers within `tol` frames)."""

    def err(a: tuple, b: tuple) -> int | None:
        if a[:keys] != b[:keys]:
            return None
        return max(abs(x - y) for x, y in zip(a[keys:], b[keys:], strict=True))

    worst = 0
    hit_found, hit_truth = set(), set()
    for i, f in enumerate(found):
        for j, t in enumerate(truth):
            e = err(f, t)
            if e is not None and e <= tol:
                hit_found.add(i)
                hit_truth.add(j)
                worst = max(worst, e)
    precision = len(hit_found) / len(found) if found else 1.0
    recall = len(hit_truth) / len(truth) if truth else 1.0
    return Score(precision, recall, worst,
                 [f for i, f in enumerate(found) if i not in hit_found],
                 [t for j, t in enumerate(truth) if j not in hit_truth])

"""The seeded edit list: first and last segments in place, a random fill between them.

Segments run from one cut to the next, in whole video frames: each cut is moved forward to the
next frame boundary, which stays inside its silent window while a frame is shorter than the
window. The fill never repeats one of the last `no_repeat` picks and stops before the running
total would pass the target, so the output is within one segment of it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from core.errors import MediaError


@dataclass(frozen=True)
class Segment:
    """Frames [start, start + frames) of film `film`: from one cut to the next."""

    film: int
    start: int
    frames: int
    fps: Fraction

    @property
    def start_s(self) -> float:
        """Start in seconds of the source."""
        return float(self.start / self.fps)

    @property
    def dur_s(self) -> float:
        """Length in seconds."""
        return float(self.frames / self.fps)


def frame_segments(film: int, cuts_s: Sequence[float], total_frames: int,
                   fps: Fraction) -> list[Segment]:
    """Segments of one film: [0, c1), [c1, c2), …, [cn, end), cuts snapped up to frames."""
    bounds = [0]
    for t in cuts_s:
        f = math.ceil(float(t) * fps - 1e-9)
        if bounds[-1] < f < total_frames:
            bounds.append(f)
    bounds.append(total_frames)
    return [Segment(film, a, b - a, fps) for a, b in itertools.pairwise(bounds)
            if b > a]


def edit_list(films: Sequence[Sequence[Segment]], target_s: float, seed: int,
              no_repeat: int = 3) -> list[Segment]:
    """The remix: films[0]'s first segment, seeded picks of interior segments, its last one.

    Interior segments are every film's segments that begin and end at cuts (not a file's head
    or tail). MediaError when the first film has fewer than three segments.
    """
    main = films[0]
    interior = [s for segs in films for s in segs[1:-1]]
    if len(main) < 3 or not interior:
        raise MediaError(f"only {len(main)} segment(s) between silences: nothing to remix "
                         "(lower the threshold or min_sound_ms, or pick a film with pauses)")
    first, last = main[0], main[-1]
    rng = np.random.default_rng(seed)
    avoid = min(no_repeat, len(interior) - 1)
    recent: list[int] = []
    picks: list[Segment] = []
    total = first.dur_s + last.dur_s
    while True:
        pool = [i for i in range(len(interior)) if i not in recent]
        i = pool[int(rng.integers(len(pool)))]
        if total + interior[i].dur_s > target_s:
            break
        picks.append(interior[i])
        total += interior[i].dur_s
        recent = ([*recent, i])[-avoid:] if avoid else []
    return [first, *picks, last]

"""Checks shared by the grid kinds' end-to-end test: the mp4 against its plan (frames,
length), each play's beep in the mixed audio at its planned time, and one preview frame
against a stored low-resolution reference image.

Generated films beep (and flash) at known times, so a clip's sound holds its beeps at known
offsets; a play of that clip puts each beep at play time + offset × stretch (reversed: from
the end). Plays whose beeps crowd each other cannot be told apart in a mix, so beeps are
gathered into groups (expected onsets within GROUP_MS of each other) and only groups with
nothing else sounding within ISOLATION_MS of their window are checked: the group's first
expected onset must be where the mix's envelope first rises (within TOLERANCE_MS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from worker.render.grid import Composition

SR = 48_000
BEEP_MS = 60.0
SEARCH_MS = 60.0
GROUP_MS = 25.0
ISOLATION_MS = 70.0
TOLERANCE_MS = 20.0
REFERENCES = Path(__file__).parent / "references"
PREVIEW_SIZE = (64, 36)


@dataclass(frozen=True)
class Decoded:
    """An mp4's frame count, rate, container duration and audio ((2, n) float at SR)."""

    frames: int
    fps: float
    duration_s: float
    audio: np.ndarray


def decode(path: Path) -> Decoded:
    """Count the frames and decode the audio of an mp4."""
    with av.open(str(path)) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        duration = c.duration / 1e6
    return Decoded(frames, fps, duration, audio)


def beep_offsets(comp: Composition, events_ms: np.ndarray) -> list[np.ndarray]:
    """Per clip, the offsets (ms) of the beeps inside its sound (events of its film falling in
    [start − 15, start + dur))."""
    m = comp.members
    out = []
    for c in range(len(m)):
        e = events_ms[(events_ms >= m.start_ms[c] - 15) & (events_ms < m.start_ms[c] + m.dur_ms[c])]
        out.append(np.maximum(e - m.start_ms[c], 0.0))
    return out


def expected_beeps(comp: Composition, offsets: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Every beep every play should put in the mix: (onset ms, end ms, play index); a play
    cut to length_ms (splice's grains) holds only the beeps that start inside it."""
    p, m = comp.plays, comp.members
    onset, end, play = [], [], []
    for i in range(len(p)):
        c = int(p.clip[i])
        o = offsets[c]
        heard = m.dur_ms[c]
        if np.isfinite(p.length_ms[i]):  # only the first length_ms of the sound plays
            heard = min(heard, float(p.length_ms[i]))
            o = o[o < heard]
        if p.reverse[i]:
            o = heard - o - BEEP_MS
        onset.append(p.t_ms[i] + o * p.stretch[i])
        end.append(p.t_ms[i] + (o + BEEP_MS) * p.stretch[i])
        play.append(np.full(o.size, i))
    return np.concatenate(onset), np.concatenate(end), np.concatenate(play)


def first_rise(env: np.ndarray, t_ms: float) -> float:
    """Where the envelope first reaches 30 % of its peak within SEARCH_MS of t_ms (ms)."""
    a = max(int((t_ms - SEARCH_MS) * SR / 1000), 0)
    b = int((t_ms + SEARCH_MS) * SR / 1000)
    seg = env[a:b]
    return (a + int(np.argmax(seg > 0.3 * seg.max()))) * 1000 / SR


def check_plays_land(audio: np.ndarray, comp: Composition, offsets: list[np.ndarray],
                     tolerance_ms: float = TOLERANCE_MS) -> tuple[int, int]:
    """Assert every isolated group of beeps starts in the mix where planned (within
    tolerance_ms); return (groups checked, plays covered by them)."""
    env = np.abs(audio).max(axis=0)
    onset, end, play = expected_beeps(comp, offsets)
    order = np.argsort(onset)
    onset, end, play = onset[order], end[order], play[order]
    groups = np.split(np.arange(onset.size), np.flatnonzero(np.diff(onset) > GROUP_MS) + 1)
    checked, plays, misses = 0, set(), []
    for g in groups:
        if g.size == 0:
            continue
        lo, hi = onset[g].min() - ISOLATION_MS, onset[g].max() + ISOLATION_MS
        others = np.setdiff1d(np.arange(onset.size), g)
        if np.any((onset[others] < hi) & (end[others] > lo)):
            continue  # something else sounds here: cannot be told apart
        found = first_rise(env, onset[g].min())
        if abs(found - onset[g].min()) > tolerance_ms:
            misses.append((round(float(onset[g].min())), round(found), play[g].tolist()))
        checked += 1
        plays.update(play[g].tolist())
    assert not misses, f"beeps not where planned (expected ms, found ms, plays): {misses}"
    return checked, len(plays)


def card_frame(comp: Composition, layout, f: int) -> np.ndarray:
    """Frame f of the composition drawn with test cards coloured by grid cell instead of the
    films' pictures: what it shows then depends on the motion and the brightness, not on
    which sample the layout put in which cell (t-SNE need not give the same grid twice)."""
    from worker.render.engine.render import render_rgb
    from worker.render.engine.testcard import card_colours, testcard_store

    m = comp.members
    data = testcard_store(layout, card_colours(m.col.astype(float), m.row.astype(float)))
    return render_rgb(comp.scene, data, layout, f)


def preview(rgb: np.ndarray) -> np.ndarray:
    """A frame shrunk to PREVIEW_SIZE by averaging blocks (uint8 RGB)."""
    w, h = PREVIEW_SIZE
    fh, fw = rgb.shape[:2]
    img = rgb[: fh - fh % h, : fw - fw % w].astype(np.float64)
    img = img.reshape(h, img.shape[0] // h, w, img.shape[1] // w, 3).mean(axis=(1, 3))
    return np.round(img).astype(np.uint8)


def check_preview(kind: str, rgb: np.ndarray, tolerance: float = 6.0) -> float:
    """Compare a frame's preview with tests/render/references/<kind>.png; return the mean
    absolute difference (0..255). SAMPLEMILL_UPDATE_REFERENCES=1 writes the reference."""
    small = preview(rgb)
    ref_path = REFERENCES / f"{kind}.png"
    if os.environ.get("SAMPLEMILL_UPDATE_REFERENCES") == "1":
        REFERENCES.mkdir(parents=True, exist_ok=True)
        Image.fromarray(small).save(ref_path)
    assert ref_path.exists(), f"no reference image {ref_path}; run with " \
                              "SAMPLEMILL_UPDATE_REFERENCES=1 and look at it"
    ref = np.asarray(Image.open(ref_path).convert("RGB"))
    diff = float(np.abs(small.astype(np.float64) - ref.astype(np.float64)).mean())
    assert diff <= tolerance, f"{kind}: preview differs from its reference by {diff:.1f}"
    return diff


def grid_members(side: int, seed: int = 0, sources: tuple[str, ...] = ("a.mp4",)):
    """side×side members with random sounds and spans (for pure plan tests)."""
    from worker.render.grid import GridMembers

    rng = np.random.default_rng(seed)
    n = side * side
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    start = rng.uniform(0, 3000, n)
    return GridMembers(col.ravel(), row.ravel(), rng.normal(size=n), rng.normal(size=n), start,
                       rng.uniform(100, 900, n), start, rng.uniform(1200, 2400, n),
                       rng.integers(0, len(sources), n), np.arange(n) + 100, sources)


def onscreen_jumps(scene, frames, limit: float,
                   identity: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(frame, clip, px) where a clip jumped on screen between two consecutive frames: it moved
    more than `limit` px apart from the view's common motion (the median of every clip's),
    or it appeared or vanished whole inside the frame (px = how far inside its nearest edge)
    instead of sliding in or out across an edge.

    `identity` names what a drawn clip shows (e.g. members' sample ids), so two drawings of
    one clip (a wrap's second image) count as one: each is matched to the nearest drawing of
    the same thing in the frame before.
    """
    ids = identity if identity is not None else np.arange(scene.n)
    out: list[tuple[int, int, float]] = []
    prev = None
    for f in frames:
        st = scene.state(f)
        inside = np.minimum.reduce([st.cx - st.sw / 2, scene.width - st.cx - st.sw / 2,
                                    st.cy - st.sh / 2, scene.height - st.cy - st.sh / 2])
        now: dict[int, list] = {}
        for c, x, y, d in zip(st.clip, st.cx, st.cy, inside, strict=True):
            now.setdefault(int(ids[c]), []).append((int(c), float(x), float(y), float(d)))
        if prev is not None and prev[0] == f - 1:
            before = prev[1]
            single = [k for k in now if k in before and len(now[k]) == len(before[k]) == 1]
            moves = np.array([[now[k][0][1] - before[k][0][1], now[k][0][2] - before[k][0][2]]
                              for k in single]).reshape(-1, 2)
            common = np.median(moves, axis=0) if len(moves) else np.zeros(2)
            for k in set(now) | set(before):
                cur, old = now.get(k, []), before.get(k, [])
                gaps = np.array([[np.hypot(x - px - common[0], y - py - common[1])
                                  for _, px, py, _ in old] for _, x, y, _ in cur])
                pairs = sorted((gaps[i, j], i, j) for i in range(len(cur))
                                for j in range(len(old)))
                used_i, used_j = set(), set()
                for gap, i, j in pairs:  # nearest drawings of the same thing first
                    if i in used_i or j in used_j:
                        continue
                    used_i.add(i)
                    used_j.add(j)
                    if gap > limit:
                        out.append((f, cur[i][0], float(gap)))
                out += [(f, cur[i][0], cur[i][3]) for i in range(len(cur))
                        if i not in used_i and cur[i][3] >= 0]  # appeared whole
                out += [(f, old[j][0], old[j][3]) for j in range(len(old))
                        if j not in used_j and old[j][3] >= 0]  # vanished whole
        prev = (f, now)
    return out

"""The onset decision (worker/analysis/onsets.py): its features, streaming, and sustained
instruments rendered through FluidSynth (phrases never used for tuning)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analysis import realtimbre as R
from tests.analysis.onset_scoring import Score, score
from tests.mediagen import tone_sequence
from worker.analysis import onsets as O
from worker.analysis.frames import FrameChunk, FrameStream
from worker.analysis.novelty import ONSET_HOP

SR = 22050


def _novelty(y: np.ndarray) -> FrameChunk:
    """All frames of a signal, streamed as analysis streams them."""
    stream = FrameStream(SR, with_onsets=True)
    parts = [stream.push(y[i : i + SR]) for i in range(0, y.size, SR)] + [stream.finish()]
    return FrameChunk.concat([p for p in parts if p is not None and len(p)])


def _bowed(hz: float, seconds: float, seed: int) -> np.ndarray:
    """An 8-partial tone with an 80 ms attack and a 30 ms release, as a bow or breath starts."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * k * hz * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9))
    return y * np.minimum(1, t / 0.08) * np.minimum(1, np.maximum(0, seconds - t) / 0.03)


def _features_at(frames: FrameChunk, times: list[float]) -> np.ndarray:
    """The decision's features of the sub-frames nearest `times` (s)."""
    idx = np.asarray([round(t * SR / ONSET_HOP) for t in times], np.int64)
    return O.candidate_features(frames.flux.reshape(-1), frames.conc.reshape(-1),
                                frames.level.reshape(-1), idx, O.Grid(SR))


def test_features_tell_a_repeated_note_from_a_release():
    """Before a note repeated after a 40 ms gap the level dips (level_dip); where a note stops
    the level falls (level_drop); inside a steady note neither happens."""
    y = np.zeros(int(2.0 * SR))
    for k, start in enumerate((0.3, 0.6)):
        b = _bowed(220.0, 0.26, seed=k)
        y[int(start * SR) : int(start * SR) + b.size] += b
    frames = _novelty((0.3 * y).astype(np.float32))
    dip, drop = O.FEATURES.index("level_dip"), O.FEATURES.index("level_drop")
    f = _features_at(frames, [0.6, 0.86, 0.45])  # the repeat, the release, mid-note
    assert f.shape == (3, len(O.FEATURES))
    assert f[0, dip] > 10.0 > 2.0 > f[2, dip], f[:, dip]
    assert f[1, drop] < -10.0 < -1.0 < f[2, drop], f[:, drop]


@pytest.mark.parametrize("block", [O.Grid(SR).lookahead + 1, 40, 333])
def test_tracker_fed_in_pieces_decides_as_on_the_whole(block):
    """The decision reads a bounded neighbourhood (Grid.lookback/lookahead cover every
    feature's reach), so feeding the novelty in pieces, trimmed as analysis trims it, gives
    the onsets of the whole."""
    y, _ = tone_sequence(20, SR, seed=3, noise_db=-50.0)
    frames = _novelty(y)
    flux, conc, level = (frames.flux.reshape(-1), frames.conc.reshape(-1),
                         frames.level.reshape(-1))
    whole = O.OnsetTracker(SR, 0.07).update(flux, conc, level, 0, True)
    assert len(whole) >= 15
    tr = O.OnsetTracker(SR, 0.07)
    got, base = [], 0
    for end in [*range(block, flux.size, block), flux.size]:
        got += tr.update(flux[base:end], conc[2 * base : 2 * end], level[base:end], base,
                         end == flux.size)
        base = max(base, tr.done - tr.lookback)  # what analysis may drop
    assert got == whole


@pytest.fixture(scope="module")
def sustained(realtimbre_cache, analyzed) -> dict[str, Score]:
    """Per-instrument onset scores of analyze_file on bowed and blown instruments (seeds 300
    and 301 are also test_realtimbre's: rendered and analysed once, tests/analysis/conftest.py)."""
    items = R.build_items(("cello", "violin", "clarinet", "flute"), (300, 301, 302, 303),
                          seconds=7.0, cache=realtimbre_cache)
    per: dict[str, Score] = {}
    for it in items:
        table = analyzed(it.path)
        per.setdefault(it.instrument, Score())
        per[it.instrument] += score(it.truth.onsets, it.truth.pitches, table.start / 1000.0,
                                    None)
    return per


def test_sustained_instruments_legato_repeats_and_releases(sustained):
    """Legato changes and repeated notes are found and note releases in reverb are not onsets.
    The linear decision on five features before this one scored these files F 0.823 (P 0.804,
    cello 0.667); this one F 0.872 (P 0.850, cello 0.740)."""
    total = Score()
    for s in sustained.values():
        total += s
    report = " ".join(f"{k}:{v.f:.3f}" for k, v in sustained.items())
    assert total.f >= 0.85, f"F {total.f:.3f} ({report})"
    assert total.precision >= 0.83, f"P {total.precision:.3f} ({report})"
    assert min(s.f for s in sustained.values()) >= 0.70, report
    assert abs(total.median_ms) <= 10.0, total.median_ms

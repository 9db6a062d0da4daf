"""A sample's pitch is the clarity-weighted median of its frames' f0 (features.CLARITY_POWER):
a few clear frames outvote more frames that mix the note with an attack or another sound."""

from __future__ import annotations

import numpy as np

from tests.mediagen import harmonic_tone
from worker.analysis import AnalysisParams, analyze_signal
from worker.analysis import params as P
from worker.analysis.features import sample_features
from worker.analysis.frames import FrameChunk
from worker.analysis.novelty import SUB

SR = 22050


def _chunk(f0: list[float], aper: list[float]) -> FrameChunk:
    """Frames 0.. with the given f0 and aperiodicity, all loud."""
    n = len(f0)
    sub = np.zeros((n, SUB), np.float32)
    return FrameChunk(0, np.full(n, 0.1, np.float32), np.asarray(f0, np.float32),
                      np.asarray(aper, np.float32), np.zeros((n, 39), np.float32), sub, sub,
                      sub)


def test_clear_frames_outvote_more_muddy_ones():
    # Frames 0-1 start before the sample's YIN windows fit inside it and are not read; of
    # frames 2-9, five are voiced but muddy (aperiodicity 0.25) at 300 Hz, three clear at 440.
    f0 = [300.0] * 7 + [440.0] * 3 + [300.0] * 2
    aper = [0.25] * 7 + [0.02] * 3 + [0.25] * 2
    t = sample_features(_chunk(f0, aper), np.array([0]), np.array([10 * P.HOP]), SR)
    assert t.hz[0] == np.float32(440.0)  # a plain median would give 300
    assert t.note[0] == "A4"


def test_equal_clarity_is_a_plain_median_of_the_frames():
    f0 = [300.0] * 2 + [440.0, 445.0, 450.0, 455.0, 460.0, 465.0, 470.0, 475.0] + [300.0] * 2
    t = sample_features(_chunk(f0, [0.05] * 12), np.array([0]), np.array([10 * P.HOP]), SR)
    assert 455.0 <= t.hz[0] <= 460.0


def test_a_clean_tone_keeps_its_pitch_within_a_few_cents():
    for midi in (40, 57, 69, 84):
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        tone = harmonic_tone(f0, 1.0, SR, n_harmonics=8, decay_s=0.5, phase_seed=midi)
        sig = np.concatenate([np.zeros(SR // 2, np.float32), 0.3 * tone / np.abs(tone).max(),
                              np.zeros(SR // 4, np.float32)]).astype(np.float32)
        t = analyze_signal(sig, SR, AnalysisParams())
        assert len(t) == 1, t.start
        assert abs(1200 * np.log2(t.hz[0] / f0)) <= 10, (midi, t.hz[0])

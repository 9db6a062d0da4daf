"""Pitch of chords and low notes: YIN's common fundamental of a chord moves up to a chord note
(pitch.chord_root's comb test), while a real low note with a weak fundamental keeps its pitch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.mediagen import harmonic_tone
from worker.analysis import AnalysisParams, analyze_signal

SR = 22050


def _midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12.0)


def _note(midi: int, *, weak_fundamental_db: float = 0.0, seed: int = 0) -> np.ndarray:
    """A decaying harmonic tone (10 partials, 1/k) with its fundamental lowered by some dB."""
    f0 = _midi_hz(midi)
    y = harmonic_tone(f0, 1.2, SR, n_harmonics=10, decay_s=0.6, phase_seed=seed)
    if weak_fundamental_db:
        t = np.arange(y.size) / SR
        env = np.minimum(t / 0.01, 1.0) * np.exp(-np.maximum(t - 0.01, 0.0) / 0.6)
        fund = harmonic_tone(f0, 1.2, SR, n_harmonics=1, decay_s=0.6, phase_seed=seed)
        y = y - fund * env.max() * (1 - 10 ** (-weak_fundamental_db / 20)) * 0.35
    return y


def _pitch_of(y: np.ndarray) -> float:
    """The hz of the one sample of y, played after 0.5 s of silence."""
    sig = np.concatenate([np.zeros(SR // 2, np.float32), 0.3 * y / np.abs(y).max(),
                          np.zeros(SR // 4, np.float32)]).astype(np.float32)
    t = analyze_signal(sig, SR, AnalysisParams())
    assert len(t) == 1, t.start
    return float(t.hz[0])


def _cents_to_nearest(hz: float, notes: tuple[int, ...]) -> float:
    return float(min(abs(1200 * np.log2(hz / _midi_hz(m))) for m in notes)) if hz > 0 else 1e9


@pytest.mark.parametrize("notes", [(46, 50, 53), (47, 51, 54), (66, 73)],
                         ids=["A#2-D3-F3", "B2-D#3-F#3", "F#4-C#5"])
def test_a_chord_is_pitched_at_one_of_its_notes(notes):
    y = sum(_note(m, seed=i) for i, m in enumerate(notes))
    hz = _pitch_of(y)
    assert _cents_to_nearest(hz, notes) <= 50, (notes, hz)


@pytest.mark.parametrize("midi", [23, 26, 30, 33])
def test_a_low_note_with_a_weak_fundamental_keeps_its_pitch(midi):
    hz = _pitch_of(_note(midi, weak_fundamental_db=20.0))
    assert _cents_to_nearest(hz, (midi,)) <= 50, (midi, hz)


def test_the_rise_looks_back_no_further_than_a_blocks_context():
    # kernels.comb_fill_root reads RISE_FRAMES frames back; a block carries CONTEXT frames
    # before its first kept one, so more would make blocks differ from the whole signal.
    from worker.analysis import frames, pitch

    assert 0 < pitch.RISE_FRAMES <= frames.CONTEXT

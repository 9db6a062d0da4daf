"""Accuracy against synthesised truth: onsets (F >= 0.9 at +-50 ms), pitch (+-50 cents), clarity."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from tests.mediagen import harmonic_tone, tone_sequence, white_noise, write_media
from worker.analysis import AnalysisParams, analyze_file, analyze_signal

SR = 22050
PARAMS = AnalysisParams()

# (seed, white-noise RMS dBFS or None); tones peak at -6, -18 and -30 dBFS in turn.
CASES = [(0, -60.0), (1, -55.0), (2, None), (3, -50.0), (4, -60.0), (5, -55.0)]


def _scores(y, truth, table) -> tuple[float, float, list[tuple[int, int]]]:
    """Return onset F-measure, share of tones with hz within 50 cents, and the matching."""
    est = table.start / 1000.0
    f, _, _ = mir_eval.onset.f_measure(truth.onsets, est, window=0.05)
    pairs = mir_eval.util.match_events(truth.onsets, est, 0.05)
    good = 0
    for i, j in pairs:
        if table.hz[j] > 0 and abs(1200 * np.log2(table.hz[j] / truth.f0[i])) <= 50:
            good += 1
    return f, good / truth.onsets.size, pairs  # unmatched tones count as pitch failures


@pytest.mark.parametrize(("seed", "noise_db"), CASES)
def test_onsets_and_pitch_of_tone_sequences(seed, noise_db):
    y, truth = tone_sequence(40, SR, seed=seed, noise_db=noise_db)
    table = analyze_signal(y, SR, PARAMS)
    f, pitch_ok, pairs = _scores(y, truth, table)
    assert f >= 0.90, f"onset F-measure {f:.3f}"
    assert pitch_ok >= 0.90, f"only {pitch_ok:.0%} of tones within 50 cents"
    matched = [j for _, j in pairs]
    assert table.clarity[matched].min() > 0.5
    assert np.all(table.octave[matched] >= 0)


def test_onsets_and_pitch_through_an_mp4(tmp_path):
    """The same through AAC encoding and decoding (the real path)."""
    y, truth = tone_sequence(40, SR, seed=11, noise_db=-55.0)
    table = analyze_file(write_media(tmp_path / "t.mp4", y, SR), PARAMS)
    f, pitch_ok, _ = _scores(y, truth, table)
    assert f >= 0.90 and pitch_ok >= 0.90, (f, pitch_ok)


def test_noisier_sequences_still_find_onsets():
    """At 10-25 dB SNR for the quietest tones, onsets stay above the floor."""
    for seed, noise_db in ((6, -45.0), (7, -40.0)):
        y, truth = tone_sequence(40, SR, seed=seed, noise_db=noise_db)
        f, _, _ = _scores(y, truth, analyze_signal(y, SR, PARAMS))
        assert f >= 0.90, (seed, f)


def test_harmonic_tones_are_clearer_than_noise_every_time():
    tone_clarity, noise_clarity = [], []
    for k, f0 in enumerate((55.0, 98.0, 196.0, 440.0, 880.0, 1500.0)):
        for db in (-6.0, -24.0, -42.0):
            y = np.zeros(SR // 2, np.float32)
            tone = harmonic_tone(f0, 1.0, SR, phase_seed=k) * np.float32(10 ** (db / 20))
            y = np.concatenate([y, tone, np.zeros(SR // 2, np.float32)])
            y += white_noise(y.size / SR, SR, db=db - 30, seed=k)
            t = analyze_signal(y, SR, PARAMS)
            assert len(t) >= 1
            main = int(np.argmax(t.power))  # the tone's sample, not a noise blip
            tone_clarity.append(t.clarity[main])
            assert abs(1200 * np.log2(t.hz[main] / f0)) <= 50, (f0, db, t.hz[main])
    for seed, db in enumerate((-3.0, -20.0, -40.0, -60.0)):
        t = analyze_signal(white_noise(5.0, SR, db=db, seed=seed), SR, PARAMS)
        assert len(t) >= 1
        assert np.all(t.hz == 0) and np.all(t.octave == -1) and t.note == ["-"] * len(t)
        noise_clarity.extend(t.clarity.tolist())
    assert min(tone_clarity) > max(noise_clarity)
    assert max(noise_clarity) < 0.3 < 0.8 < min(tone_clarity)


def test_power_tracks_level():
    """Power (linear RMS) of identical tones follows their level, in order and ratio."""
    powers = []
    for db in (-6.0, -20.0, -34.0):
        y = np.concatenate([np.zeros(SR // 2, np.float32),
                            harmonic_tone(220.0, 0.8, SR) * np.float32(10 ** (db / 20)),
                            np.zeros(SR // 2, np.float32)])
        t = analyze_signal(y, SR, PARAMS)
        powers.append(float(t.power[np.argmax(t.power)]))
    in_db = 20 * np.log10(powers)
    assert np.allclose(np.diff(in_db), -14.0, atol=2.0), powers
    assert all(0 < p < 1 for p in powers)


def _glide_tone(hz_of_t, seconds: float) -> np.ndarray:
    """A phase-continuous 8-partial tone whose frequency follows hz_of_t (no new attack)."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(hz_of_t(t)) / SR
    y = sum(np.sin(h * phase) / h for h in range(1, 9))
    env = np.minimum(1, t / 0.05) * np.minimum(1, (seconds - t) / 0.05)
    return (0.3 * y * env / np.abs(y).max()).astype(np.float32)


def _change_cue(y: np.ndarray) -> np.ndarray:
    """The onset novelty's pitch-change cue per sub-frame, streamed as analysis streams."""
    from worker.analysis.frames import FrameChunk, FrameStream

    stream = FrameStream(SR, with_onsets=True)
    parts = [stream.push(y[: SR // 2]), stream.push(y[SR // 2 :]), stream.finish()]
    frames = FrameChunk.concat([p for p in parts if p is not None and len(p)])
    return frames.conc.reshape(frames.flux.size, -1)[:, 1]


@pytest.mark.parametrize("hz", [73.4, 146.8, 440.0])
def test_legato_pitch_change_stands_out_from_vibrato(hz):
    """A semitone step without a new attack (legato) raises the pitch-change cue far more than
    +-40 cent vibrato at 5.5 Hz does, even at 73 Hz where the flux's 46 ms window cannot
    resolve the step."""
    legato = _glide_tone(lambda t: np.where(t < 1.0, hz, hz * 2 ** (1 / 12)), 2.0)
    vibrato = _glide_tone(lambda t: hz * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.5 * t)), 2.0)
    step = round(1.0 * SR / 256)  # the sub-frame of the change
    at_change = _change_cue(legato)[step - 4 : step + 5].max()
    steady = _change_cue(vibrato)[26:160].max()  # 0.3 .. 1.85 s: after the attack, before the end
    assert at_change > 5 * steady, (at_change, steady)


@pytest.mark.parametrize("hz", [146.8, 440.0])
def test_legato_change_is_an_onset_and_vibrato_is_not(hz):
    legato = _glide_tone(lambda t: np.where(t < 1.0, hz, hz * 2 ** (1 / 12)), 2.0)
    vibrato = _glide_tone(lambda t: hz * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.5 * t)), 2.0)
    starts = analyze_signal(legato, SR, PARAMS).start
    assert np.min(np.abs(starts - 1000.0)) <= 50.0, starts
    assert analyze_signal(vibrato, SR, PARAMS).start.tolist() == [0.0]

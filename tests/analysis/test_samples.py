"""Sample cutting, table contract, edge cases, silence method, and block-boundary invariance."""

from __future__ import annotations

import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from core.errors import SamplemillError
from tests.mediagen import harmonic_tone, speechlike, tone_sequence, white_noise, write_media
from worker.analysis import AnalysisParams, SampleTable, analyze_file, analyze_signal, file_stats
from worker.analysis.analyze import Analyzer
from worker.analysis.decode import iter_audio_blocks

SR = 22050
NOTE = re.compile(r"^[A-G]#?-?\d+$")


def _burst(seconds: float, f0: float = 220.0, db: float = -12.0) -> np.ndarray:
    """A sustained harmonic tone (no decay) at `db` dBFS peak."""
    t = np.arange(int(seconds * SR)) / SR
    return (np.sin(2 * np.pi * f0 * t) * 10 ** (db / 20)).astype(np.float32)


def _zeros(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    """~100 s of tones, speech-like bursts and noise: varied material for contract tests."""
    a, _ = tone_sequence(80, SR, seed=21)
    return np.concatenate([a, speechlike(40.0, SR, seed=2), white_noise(8.0, SR, db=-30),
                           _zeros(3.0), a[: 20 * SR]])


def test_table_contract(mixture):
    p = AnalysisParams()
    t = analyze_signal(mixture, SR, p)
    n = len(t)
    assert n > 100
    assert t.start.dtype == np.float64 and t.dur.dtype == np.float64
    assert t.vector.shape == (n, 39) and t.vector.dtype == np.float32
    assert np.isfinite(t.vector).all() and np.isfinite(t.power).all()
    assert all(len(c) == n for c in (t.power, t.hz, t.midi, t.clarity, t.octave, t.note))
    assert np.all(np.diff(t.start) > 0)  # time order, no duplicates
    assert np.all(t.start[:-1] + t.dur[:-1] <= t.start[1:] + 1e-9)  # no overlaps
    assert np.all((t.dur >= p.min_ms) & (t.dur <= p.max_ms + 1e-9))
    assert np.all((t.clarity >= 0) & (t.clarity <= 1))
    pitched = t.hz > 0
    assert pitched.any() and (~pitched).any()
    assert np.all(t.octave[~pitched] == -1) and np.all(t.midi[~pitched] == 0.0)
    assert all(t.note[i] == "-" for i in np.flatnonzero(~pitched))
    for i in np.flatnonzero(pitched):
        assert NOTE.match(t.note[i]) and t.note[i].isascii()
        assert t.octave[i] == int(t.note[i][-1]) or t.note[i].endswith(str(t.octave[i]))
        assert abs(t.midi[i] - (69 + 12 * np.log2(t.hz[i] / 440))) < 1e-3
    rows = t.rows()
    assert len(rows) == n and set(rows[0]) == {"start", "dur", "power", "hz", "midi",
                                               "clarity", "octave", "note"}
    assert isinstance(rows[0]["octave"], int) and isinstance(rows[0]["start"], float)
    sub = t.select(t.hz > 0)
    assert len(sub) == pitched.sum() and np.all(sub.hz > 0) and sub.vector.shape[0] == len(sub)
    stats = file_stats(t)
    assert stats["n_samples"] == n
    assert stats["median_hz"] == pytest.approx(float(np.median(t.hz[pitched])))
    assert set(stats) == {"n_samples", "median_power", "median_hz", "median_clarity",
                          "median_dur"}


def test_max_samples_keeps_the_first_in_time(mixture):
    full = analyze_signal(mixture, SR, AnalysisParams())
    capped = analyze_signal(mixture, SR, AnalysisParams(max_samples=7))
    assert len(capped) == 7
    assert np.array_equal(capped.start, full.start[:7])
    assert len(analyze_signal(mixture, SR, AnalysisParams(max_samples=0))) == 0


def test_min_and_max_duration(mixture):
    p = AnalysisParams(min_ms=200.0, max_ms=300.0)
    t = analyze_signal(mixture, SR, p)
    assert len(t) and np.all((t.dur >= 200.0) & (t.dur <= 300.0 + 1e-9))


def test_audio_before_the_first_onset_is_not_a_sample():
    y = np.concatenate([_zeros(1.0), harmonic_tone(330.0, 1.5, SR, decay_s=0.15), _zeros(0.4)])
    t = analyze_signal(y, SR, AnalysisParams())
    assert len(t) == 1
    assert 950 <= t.start[0] <= 1000  # backtracked to just before the attack at 1000 ms
    assert t.dur[0] == pytest.approx(1000.0)  # to the end of the signal, capped at max_ms
    assert abs(1200 * np.log2(t.hz[0] / 330.0)) < 20 and t.note[0] == "E4"


@pytest.mark.parametrize("y", [np.zeros(0), np.zeros((2, 0)), _zeros(5.0)],
                         ids=["empty", "empty-stereo", "digital-silence"])
def test_nothing_in_nothing_out(y):
    for method in ("onset", "silence"):
        t = analyze_signal(y, SR, AnalysisParams(method=method))
        assert len(t) == 0 and t.vector.shape == (0, 39) and t.rows() == []
    stats = file_stats(SampleTable.empty())
    assert stats["n_samples"] == 0 and stats["median_power"] is None


def test_quiet_noise_floor_gives_no_samples():
    y = white_noise(5.0, SR, db=-100.0)
    assert len(analyze_signal(y, SR, AnalysisParams())) == 0


@pytest.mark.parametrize("bad", [np.full(1000, np.nan), np.array([0.0, np.inf, 0.0])])
def test_non_finite_signal_is_a_clear_error(bad):
    with pytest.raises(SamplemillError, match="NaN or infinite"):
        analyze_signal(bad, SR, AnalysisParams())


def test_bad_params_are_errors():
    with pytest.raises(SamplemillError, match="method"):
        AnalysisParams(method="spectral")  # type: ignore[arg-type]
    with pytest.raises(SamplemillError, match="min_ms"):
        AnalysisParams(min_ms=500.0, max_ms=100.0)


def test_stereo_and_other_rates_are_accepted():
    y, _ = tone_sequence(10, 44100, seed=4)
    mono = analyze_signal(y, 44100, AnalysisParams())
    stereo = analyze_signal(np.stack([y, y]), 44100, AnalysisParams())
    assert len(mono) == len(stereo) > 5
    assert np.allclose(mono.start, stereo.start)


def test_silence_method_cuts_at_gaps():
    p = AnalysisParams(method="silence", max_ms=1000.0, min_ms=80.0,
                       silence_threshold_db=-40.0, silence_min_gap_ms=250.0)
    parts = [_zeros(0.5), _burst(0.3), _zeros(0.4),  # sample at 500 ms, 300 ms long
             _burst(0.2), _zeros(0.1), _burst(0.2),  # 100 ms gap < min gap: one sample
             _zeros(0.5), _burst(2.0),  # long burst: capped to max_ms
             _zeros(0.5), _burst(0.05),  # shorter than min_ms: dropped
             _zeros(0.5), _burst(0.3, db=-50.0),  # under the threshold: silence
             _zeros(0.3), _burst(0.3)]  # ends at the end of the signal
    y = np.concatenate(parts)
    t = analyze_signal(y, SR, p)
    starts = np.cumsum([0] + [x.size for x in parts])[:-1] / SR * 1000
    expect_start = [starts[1], starts[3], starts[7], starts[13]]
    expect_dur = [300.0, 500.0, 1000.0, 300.0]
    assert len(t) == 4, t.rows()
    assert np.allclose(t.start, expect_start, atol=21.0)  # 20 ms silence frames
    assert np.allclose(t.dur, expect_dur, atol=21.0)
    assert np.all(np.abs(1200 * np.log2(t.hz / 220.0)) < 20)


def test_silence_method_on_noise_and_silence():
    p = AnalysisParams(method="silence")
    assert len(analyze_signal(_zeros(3.0), SR, p)) == 0
    t = analyze_signal(white_noise(3.0, SR, db=-10), SR, p)
    assert len(t) == 1 and t.dur[0] == pytest.approx(1000.0) and t.clarity[0] < 0.3


@pytest.mark.parametrize("method", ["onset", "silence"])
def test_blocks_give_the_same_samples_as_the_whole_signal(mixture, method):
    p = AnalysisParams(method=method)
    whole = analyze_signal(mixture, SR, p)
    for seconds in (0.7, 13.1):
        with threadpool_limits(1, user_api="blas"):
            a = Analyzer(p)
            n = int(seconds * SR)
            for i in range(0, mixture.size, n):
                a.push(mixture[i : i + n])
            part = a.finish()
        assert np.array_equal(part.start, whole.start) and np.array_equal(part.dur, whole.dur)
        assert np.allclose(part.vector, whole.vector, atol=1e-4)
        assert np.allclose(part.hz, whole.hz) and np.allclose(part.power, whole.power)
        assert part.note == whole.note


def test_analyze_file_on_a_long_file_matches_the_whole_signal(tmp_path):
    """A 150 s m4a crosses several decode blocks; streaming must change nothing."""
    a, _ = tone_sequence(120, SR, seed=5)
    y = np.concatenate([a, speechlike(150.0 - a.size / SR, SR, seed=5)])
    path = write_media(tmp_path / "long.m4a", y, SR)
    decoded = np.concatenate(list(iter_audio_blocks(path, sr=SR)))
    p = AnalysisParams()
    from_file = analyze_file(path, p)
    whole = analyze_signal(decoded, SR, p)
    assert len(from_file) > 200
    assert np.array_equal(from_file.start, whole.start)
    assert np.array_equal(from_file.dur, whole.dur)
    assert np.allclose(from_file.vector, whole.vector, atol=1e-4)
    assert np.allclose(from_file.hz, whole.hz)


@pytest.mark.parametrize("method", ["onset", "silence"])
def test_state_stays_bounded_however_long_the_input(method):
    """Frames and audio held between blocks do not grow with the signal (constant memory)."""
    pattern, _ = tone_sequence(30, SR, seed=9)
    pattern = np.concatenate([pattern, white_noise(10.0, SR, db=-20, seed=9)])  # no gaps
    block = 30 * SR
    held = []
    with threadpool_limits(1, user_api="blas"):
        a = Analyzer(AnalysisParams(method=method))
        for i in range(24):  # ~9 minutes
            y = np.roll(pattern, i * 977)
            for j in range(0, y.size, block):
                a.push(y[j : j + block])
            held.append((len(a.store.all()), a.frames.buf.size))
        table = a.finish()
    frames_per_block = block // 512
    assert max(h[0] for h in held) < 2 * frames_per_block + 1000
    assert max(h[1] for h in held) < 2 * block
    assert len(table) > 20

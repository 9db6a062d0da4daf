"""Time-stretch in the mix: both methods (Rubber Band, the reference's paulstretch smear) make a
sound as much longer as asked with its pitch kept (a generated tone's frequency within a few
cents), keep its level and its timing, give the same bytes twice, and are rendered once per
(clip, factor, method) however many plays share them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from tests.mediagen import write_media
from worker.render.mix.effects import PlayFx, paulstretch, stretched, time_stretch
from worker.render.mix.laws import rms_db
from worker.render.mix.mix import ClipSounds, mix_plays
from worker.render.mix.plays import STRETCH_METHODS, Plays

SR = 48_000
METHODS = list(STRETCH_METHODS)


def tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    """A stereo sine."""
    t = np.arange(round(seconds * SR)) / SR
    return np.stack([amp * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int = SR) -> float:
    """The power-weighted mean frequency within ±40 Hz of the strongest bin (a long, zero-padded
    FFT, so the answer is good to a fraction of a cent for a steady tone)."""
    mono = x.mean(axis=0).astype(np.float64) * np.hanning(x.shape[1])
    n = 1 << int(np.ceil(np.log2(x.shape[1] * 8)))
    power = np.abs(np.fft.rfft(mono, n)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / sr)
    near = np.abs(freqs - freqs[np.argmax(power)]) <= 40
    return float((freqs[near] * power[near]).sum() / power[near].sum())


def cents(a: float, b: float) -> float:
    return 1200 * abs(np.log2(a / b))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("factor", [2.0, 8.0])
def test_stretch_makes_the_sound_longer_with_its_pitch_kept(method: str, factor: float) -> None:
    x = tone(440.0, 0.75)
    y = time_stretch(x, SR, factor, method)
    assert y.shape[0] == 2 and y.dtype == np.float32
    assert y.shape[1] == pytest.approx(factor * x.shape[1], rel=0.01)
    middle = y[:, y.shape[1] // 4 : 3 * y.shape[1] // 4]
    assert cents(dominant_hz(middle), 440.0) < 5
    # the level holds: the middle of the stretched tone is as loud as the tone (within 2 dB)
    assert rms_db(middle) == pytest.approx(rms_db(x), abs=2.0)


@pytest.mark.parametrize("method", METHODS)
def test_a_higher_tone_stays_higher(method: str) -> None:
    y = time_stretch(tone(1000.0, 0.5), SR, 3.0, method)
    assert cents(dominant_hz(y[:, SR // 4 : -SR // 4]), 1000.0) < 5


@pytest.mark.parametrize("method", METHODS)
def test_an_event_lands_at_its_stretched_time(method: str) -> None:
    """A burst 200..300 ms into a sound stretched 4x sounds at 800..1200 ms: its energy is
    centred at 1 s, and it starts at 800 ms with Rubber Band (within 20 ms); paulstretch's
    window (250 ms, seeing the burst from half a window before it) smears it earlier."""
    x = np.zeros((2, SR), np.float32)
    x[:, SR // 5 : SR * 3 // 10] = tone(800.0, 0.1)
    y = time_stretch(x, SR, 4.0, method)
    power = (y.astype(np.float64) ** 2).sum(axis=0)
    centre = float((np.arange(power.size) * power).sum() / power.sum()) / SR
    assert centre == pytest.approx(1.0, abs=0.05)
    env = np.abs(y).max(axis=0)
    onset = np.flatnonzero(env > 0.1 * env.max())[0] / SR
    early = 0.02 if method == "rubberband" else 0.125 * 4 + 0.125
    assert 0.8 - early <= onset <= 0.8 + 0.02


def test_paulstretch_is_seeded_and_smears_a_short_grain() -> None:
    grain = tone(600.0, 0.128)
    a, b = paulstretch(grain, SR, 12.0), paulstretch(grain, SR, 12.0)
    assert np.array_equal(a, b)
    assert a.shape[1] == round(12 * grain.shape[1])
    # a smear, not a loop: the envelope is steady through the middle, no gaps
    env = np.sqrt(np.convolve(a[0] ** 2, np.ones(2400) / 2400, mode="valid"))
    mid = env[env.size // 5 : 4 * env.size // 5]
    assert mid.min() > 0.3 * mid.max()


def test_factor_one_is_the_sound_itself_and_unknown_methods_are_refused() -> None:
    x = tone(440.0, 0.2)
    for method in METHODS:
        assert time_stretch(x, SR, 1.0, method) is x
    with pytest.raises(ConfigError, match="stretch_method"):
        time_stretch(x, SR, 2.0, "granular")
    with pytest.raises(ConfigError, match="stretch_method"):
        PlayFx(np.nan, np.nan, False, 2.0, 0, 0, 0, 0, "granular")
    with pytest.raises(ConfigError, match="stretch_method"):
        Plays.make([0], [0.0], stretch_method="granular")


def test_plays_carry_the_method_by_name_and_older_plans_default_to_rubberband() -> None:
    plays = Plays.make([0, 1, 2], [0.0, 1.0, 2.0], stretch=[1, 2, 3],
                       stretch_method=["rubberband", "paulstretch", "paulstretch"])
    assert [plays.method(i) for i in range(3)] == ["rubberband", "paulstretch", "paulstretch"]
    again = Plays.from_arrays(plays.arrays())
    assert np.array_equal(again.stretch_method, [0, 1, 1])
    old = {k: v for k, v in plays.arrays().items() if k != "plays.stretch_method"}
    assert np.array_equal(Plays.from_arrays(old).stretch_method, [0, 0, 0])


def test_level_is_set_before_the_stretch() -> None:
    fx = PlayFx(-20.0, np.nan, False, 4.0, 0, 0, 0, 0, "paulstretch")
    y = stretched(tone(440.0, 0.5, amp=0.05), SR, fx)
    assert rms_db(y[:, SR // 2 : -SR // 2]) == pytest.approx(-20.0, abs=1.5)


def test_stretches_are_made_once_per_clip_factor_and_method(tmp_path: Path) -> None:
    """Six plays of one clip: two factors x two methods stretch four times, and the plays that
    differ only in pan reuse their stretch; each lands at its time, as long as asked."""
    t = np.arange(4 * SR) / SR
    audio = np.where((t >= 0.5) & (t < 0.7), 0.8 * np.sin(2 * np.pi * 500 * t), 0.0)
    film = write_media(tmp_path / "tone.mp4", np.stack([audio, audio]).astype(np.float32), SR)
    clips = ClipSounds(np.array([0]), np.array([500.0]), np.array([200.0]), [str(film)])
    plays = Plays.make([0] * 6, [0, 1500, 3000, 4500, 6000, 7500],
                       stretch=[2, 2, 4, 4, 2, 4], pan=[-1, 1, -1, 1, 0, 0],
                       stretch_method=["rubberband"] * 4 + ["paulstretch"] * 2)
    result = mix_plays(plays, clips, 9.0)
    assert result.plays == 6 and result.renders == 6 and result.stretches == 4
    env = np.abs(result.audio).max(axis=0)
    for start, factor in zip([0, 1.5, 3, 4.5, 6, 7.5], [2, 2, 4, 4, 2, 4], strict=True):
        seg = env[round(start * SR) : round((start + 1.5) * SR)]
        loud = np.flatnonzero(seg > 0.1 * seg.max()) / SR
        assert loud[0] < 0.1  # starts at its time (within the smear of the first window)
        assert loud[-1] == pytest.approx(0.2 * factor, abs=0.15)  # as long as asked

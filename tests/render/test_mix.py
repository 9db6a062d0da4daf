"""The audio mix: gain and pan laws against their formulas, effects, the true-peak limiter, and
whole mixes of real media files (onsets where planned, target loudness, nothing over the
ceiling, a broken source silent and reported)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mediagen import write_garbage, write_media
from worker.render.mix.effects import PlayFx, fade, level, pan, reverb, time_stretch
from worker.render.mix.laws import db_gain, pan_gains, rms_db, volume_db
from worker.render.mix.limiter import limit, true_peak
from worker.render.mix.mix import ClipSounds, MixParams, loudness_lufs, mix_plays
from worker.render.mix.plays import Plays

SR = 48_000


def sine(freq: float, seconds: float, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---------------------------------------------------------------- laws


def test_volume_is_twenty_log10_of_amplitude_not_the_references_natural_log() -> None:
    assert float(volume_db(0.5)) == pytest.approx(-6.0206, abs=1e-4)
    assert float(volume_db(0.25)) == pytest.approx(-12.0412, abs=1e-4)
    assert float(volume_db(0.5)) != pytest.approx(10 * np.log(0.25), abs=0.1)  # -13.9
    for v in (0.1, 0.5, 1.0, 2.0):
        assert float(db_gain(volume_db(v))) == pytest.approx(v)


def test_equal_power_pan_law() -> None:
    pans = np.linspace(-1, 1, 41)
    left, right = pan_gains(pans)
    np.testing.assert_allclose(left**2 + right**2, 1.0)
    np.testing.assert_allclose(left, np.cos((pans + 1) * np.pi / 4))
    assert pan_gains(0.0)[0] == pytest.approx(np.sqrt(0.5))
    assert pan_gains(-1.0)[1] == pytest.approx(0.0, abs=1e-12)
    assert pan_gains(1.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_pan_splits_a_signal_by_the_law() -> None:
    x = sine(440, 0.5)
    out = pan(np.stack([x, x]), -0.5)
    left, right = pan_gains(-0.5)
    ratio_db = rms_db(out[0]) - rms_db(out[1])
    assert ratio_db == pytest.approx(20 * np.log10(left / right), abs=1e-3)
    assert rms_db(out[0]) == pytest.approx(rms_db(x) + 20 * np.log10(left), abs=1e-3)


def test_level_matches_then_caps_rms() -> None:
    x = np.stack([sine(300, 1.0, 0.1)] * 2)
    assert rms_db(level(x, -20.0, np.nan)) == pytest.approx(-20.0, abs=0.01)
    assert rms_db(level(x, np.nan, -30.0)) == pytest.approx(-30.0, abs=0.01)
    assert rms_db(level(x, np.nan, -10.0)) == pytest.approx(rms_db(x), abs=1e-6)  # never raises
    assert rms_db(level(x, -10.0, -16.0)) == pytest.approx(-16.0, abs=0.01)


def test_fades_are_linear_ramps() -> None:
    x = np.ones((2, SR), np.float32)
    y = fade(x, SR, 100, 500)
    n_in, n_out = SR // 10, SR // 2
    assert y[0, 0] < 0.001 and y[0, n_in // 2] == pytest.approx(0.5, abs=0.001)
    assert y[0, n_in + 10] == 1.0
    assert y[1, -1] < 0.001 and y[1, SR - n_out // 2] == pytest.approx(0.5, abs=0.001)


def test_time_stretch_changes_length_not_pitch() -> None:
    x = np.stack([sine(440, 1.0)] * 2)
    y = time_stretch(x, SR, 2.0)
    assert y.shape[1] == pytest.approx(2 * SR, rel=0.02)
    spec = np.abs(np.fft.rfft(y[0, SR // 2 : SR // 2 + SR]))
    assert np.argmax(spec) == pytest.approx(440, abs=3)


def test_reverb_is_true_stereo_with_a_tail() -> None:
    click = np.zeros((2, SR // 2), np.float32)
    click[0, 100] = 0.8  # left channel only
    out = reverb(click, SR, 80)
    assert out.shape[1] > click.shape[1]  # the tail is kept
    mono_in = np.repeat(click.mean(axis=0, keepdims=True), 2, axis=0)
    assert not np.allclose(out, reverb(mono_in, SR, 80), atol=1e-4)  # not summed to mono
    assert np.abs(out[1, 1000:]).max() > 1e-4  # the room answers on the other side too
    assert rms_db(out[0, 2000:]) > -70


# ---------------------------------------------------------------- limiter


def test_limiter_keeps_every_sample_and_the_true_peak_under_the_ceiling() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 0.6, (2, SR * 3)) * np.linspace(0.2, 3, SR * 3)).astype(np.float32)
    x[:, SR] = 4.0  # a spike
    ceiling = 10 ** (-1 / 20)
    y = limit(x, SR, -1.0)
    assert np.abs(y).max() <= ceiling + 1e-7
    assert 20 * np.log10(true_peak(y)) <= -1.0 + 0.3
    quiet = (x * 0.05).astype(np.float32)
    np.testing.assert_allclose(limit(quiet, SR, -1.0), quiet, atol=1e-7)  # below: untouched


def test_true_peak_sees_between_samples() -> None:
    # a sine at fs/4 sampled at 45° phase: samples reach 0.707 of the true peak
    n = np.arange(4000)
    x = np.sin(np.pi / 2 * n + np.pi / 4)[None, :].astype(np.float32)
    assert np.abs(x).max() == pytest.approx(np.sqrt(0.5), abs=1e-3)
    assert true_peak(x) == pytest.approx(1.0, abs=0.02)


# ---------------------------------------------------------------- whole mixes


def beep_film(path: Path, beeps_s: list[float], seconds: float = 4.0, amp: float = 0.9) -> Path:
    """A film whose sound is silence with 1 kHz beeps (60 ms) at the given times."""
    audio = np.zeros(round(seconds * SR), np.float32)
    for t in beeps_s:
        a = round(t * SR)
        audio[a : a + SR * 6 // 100] = sine(1000, 0.06, amp)
    return write_media(path, np.stack([audio, audio]), SR)


def onsets(audio: np.ndarray, sr: int = SR, threshold: float = 0.05) -> list[float]:
    """Times (s) where the envelope first rises above threshold after 100 ms below it."""
    env = np.abs(audio).max(axis=0)
    above = env > threshold * env.max()
    times, last = [], -1.0
    for i in np.flatnonzero(above):
        t = i / sr
        if t - last > 0.1:
            times.append(t)
        last = t
    return times


def test_mix_places_each_play_at_its_time_at_the_target_loudness(tmp_path: Path) -> None:
    film = beep_film(tmp_path / "a.mp4", [0.5, 2.0])
    clips = ClipSounds(np.array([0, 0]), np.array([450.0, 1950.0]), np.array([300.0, 300.0]),
                       [str(film)])
    # clip 0's beep is 50 ms in; play it at 1.0 s and 3.0 s, clip 1 at 2.2 s
    plays = Plays.make([0, 1, 0], [1000.0, 2200.0, 3000.0], volume=[1.0, 0.5, 1.0],
                       pan=[-1.0, 1.0, 0.0], fade_in_ms=5, fade_out_ms=50)
    result = mix_plays(plays, clips, 5.0, MixParams(loudness=-16.0, ceiling_db=-1.0))
    got = onsets(result.audio)
    assert len(got) == 3
    np.testing.assert_allclose(got, [1.05, 2.25, 3.05], atol=0.01)
    assert result.audio.shape == (2, 5 * SR)
    assert result.loudness == pytest.approx(-16.0, abs=1.0)
    assert loudness_lufs(result.audio, SR) == pytest.approx(-16.0, abs=1.0)
    assert np.abs(result.audio).max() <= 10 ** (-1 / 20) + 1e-7
    # hard left, then hard right: the pan law put each beep on its own side
    first = result.audio[:, int(1.0 * SR) : int(1.2 * SR)]
    second = result.audio[:, int(2.2 * SR) : int(2.4 * SR)]
    assert rms_db(first[1]) < rms_db(first[0]) - 40 and rms_db(second[0]) < rms_db(second[1]) - 40
    assert result.renders == 3 and not result.failed_clips


def test_many_loud_plays_stay_under_the_ceiling_and_on_target(tmp_path: Path) -> None:
    film = beep_film(tmp_path / "loud.mp4", [0.1 * i for i in range(30)], seconds=3.5, amp=1.0)
    n = 40
    clips = ClipSounds(np.zeros(n, int), np.full(n, 100.0 * (np.arange(n) % 25)),
                       np.full(n, 400.0), [str(film)])
    plays = Plays.make(np.arange(n), np.linspace(0, 2500, n), volume=2.0, reverb=80,
                       match_db=-6.0)
    result = mix_plays(plays, clips, 4.0, MixParams(loudness=-14.0, ceiling_db=-2.0))
    assert np.abs(result.audio).max() <= 10 ** (-2 / 20) + 1e-7
    assert result.true_peak_db <= -2.0 + 0.3
    assert loudness_lufs(result.audio, SR) == pytest.approx(-14.0, abs=1.0)


def test_plays_sharing_clip_and_effects_render_once(tmp_path: Path) -> None:
    film = beep_film(tmp_path / "a.mp4", [0.2])
    clips = ClipSounds(np.array([0]), np.array([150.0]), np.array([200.0]), [str(film)])
    plays = Plays.make([0] * 6, [0, 400, 800, 1200, 1600, 2000], volume=[1, .5, 1, .5, 1, .5],
                       reverb=50, stretch=[1, 1, 1, 1, 1.5, 1.5])
    result = mix_plays(plays, clips, 3.0)
    assert result.renders == 2 and result.plays == 6
    assert len(onsets(result.audio, threshold=0.2)) == 6


def test_an_undecodable_source_is_silent_and_reported(tmp_path: Path) -> None:
    good = beep_film(tmp_path / "good.mp4", [0.2])
    bad = write_garbage(tmp_path / "bad.mp4")
    clips = ClipSounds(np.array([0, 1]), np.array([150.0, 150.0]), np.array([200.0, 200.0]),
                       [str(good), str(bad)])
    plays = Plays.make([0, 1], [500.0, 1500.0])
    result = mix_plays(plays, clips, 2.5)
    assert result.failed_clips == [1]
    got = onsets(result.audio)
    np.testing.assert_allclose(got, [0.55], atol=0.01)


def test_fx_keys_treat_nan_levels_as_equal() -> None:
    a = PlayFx(np.nan, -16.0, False, 1.0, 10.0, 50.0, 0.0, 80.0)
    b = PlayFx(np.nan, -16.0, False, 1.0, 10.0, 50.0, 0.0, 80.0)
    assert a.key() == b.key()

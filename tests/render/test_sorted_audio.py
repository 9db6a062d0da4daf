"""Sorted audio: clips from real media, joined in order, with exact duration, levels and formats."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from core.errors import ConfigError, MediaError, SamplemillError
from tests.mediagen import harmonic_tone, write_media
from worker.render.sorted_audio.params import SortedAudioParams
from worker.render.sorted_audio.renderer import Clip, expected_duration_ms, render_sorted_audio

SR = 22050
PITCHES = [220.0, 311.0, 440.0, 622.0, 880.0, 1245.0]
LEVELS_DB = [-40.0, -6.0, -25.0, -12.0, -30.0, -3.0]  # very uneven source levels


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode a whole file to mono float32 at its own rate with PyAV."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rs = av.AudioResampler(format="fltp", layout="mono", rate=stream.rate)
        chunks = [f.to_ndarray()[0] for fr in c.decode(stream) for f in rs.resample(fr)]
        chunks += [f.to_ndarray()[0] for f in rs.resample(None)]
        return np.concatenate(chunks), stream.rate


def dominant_hz(y: np.ndarray, sr: int) -> float:
    """Frequency of the strongest FFT bin."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1.0 / sr)[np.argmax(spec)])


def rms_db(y: np.ndarray) -> float:
    """RMS level in dBFS."""
    return float(20 * np.log10(np.sqrt(np.mean(np.square(y)))))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One mp4 film (audio + video) per pitch: 1.5 s silence then a steady tone at its level."""
    d = tmp_path_factory.mktemp("films")
    out = []
    for i, (hz, db) in enumerate(zip(PITCHES, LEVELS_DB, strict=True)):
        tone = harmonic_tone(hz, 2.0, SR, n_harmonics=2, decay_s=60.0, phase_seed=i)
        tone = tone / np.sqrt(np.mean(tone**2)) * 10 ** (db / 20)
        audio = np.concatenate([np.zeros(int(1.5 * SR), np.float32), tone.astype(np.float32)])
        out.append(write_media(d / f"film{i}.mp4", audio, SR))
    return out


def segments(clips: list[Clip], p: SortedAudioParams, sr: int) -> list[tuple[int, int]]:
    """Sample ranges of each clip's middle (clear of fades and overlaps) in the output."""
    t = p.pad_before_ms
    out = []
    for i, c in enumerate(clips):
        if i:
            t -= min(p.overlap_ms, clips[i - 1].dur_ms / 2, c.dur_ms / 2)
        lo, hi = t + c.dur_ms * 0.3, t + c.dur_ms * 0.7
        out.append((round(lo * sr / 1000), round(hi * sr / 1000)))
        t += c.dur_ms
    return out


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_clips_in_order_with_expected_duration(
    sources: list[Path], tmp_path: Path, suffix: str
) -> None:
    order = [3, 0, 5, 1, 4, 2]
    clips = [Clip(sources[i], 1700.0 + 37 * i, 450.0 + 20 * i) for i in order]
    params = SortedAudioParams(sr=SR, channels=2)
    out = tmp_path / f"sorted{suffix}"
    result = render_sorted_audio(clips, out, params)
    assert result.path == out and result.clips == 6 and result.failed == ()
    y, sr = decode(out)
    expected = expected_duration_ms(clips, params)
    assert result.duration_s * 1000 == pytest.approx(expected, abs=1e-6)
    assert len(y) / sr * 1000 == pytest.approx(expected, abs=3.0)
    for (lo, hi), i in zip(segments(clips, params, sr), order, strict=True):
        assert dominant_hz(y[lo:hi], sr) == pytest.approx(PITCHES[i], rel=0.03)
    assert not list(tmp_path.glob(".*part*"))  # the temporary file was renamed


def test_loudness_matched_and_padding_silent(sources: list[Path], tmp_path: Path) -> None:
    clips = [Clip(s, 1600.0, 500.0) for s in sources]
    params = SortedAudioParams(sr=SR, channels=1, match_db=-16.0, volume=0.6)
    out = render_sorted_audio(clips, tmp_path / "m.wav", params).path
    y, sr = decode(out)
    target = -16.0 + 20 * np.log10(0.6)
    for lo, hi in segments(clips, params, sr):
        assert rms_db(y[lo:hi]) == pytest.approx(target, abs=1.0)
    assert np.abs(y[: int(0.5 * sr) - 5]).max() < 1e-3
    assert np.abs(y[-int(2.0 * sr) + 5 :]).max() < 1e-3


def test_match_none_keeps_relative_levels(sources: list[Path], tmp_path: Path) -> None:
    clips = [Clip(sources[0], 1600.0, 500.0), Clip(sources[5], 1600.0, 500.0)]
    params = SortedAudioParams(sr=SR, channels=1, match_db=None, volume=1.0)
    y, sr = decode(render_sorted_audio(clips, tmp_path / "n.flac", params).path)
    (a0, a1), (b0, b1) = segments(clips, params, sr)
    assert rms_db(y[b0:b1]) - rms_db(y[a0:a1]) == pytest.approx(37.0, abs=1.5)


def test_overlap_is_at_most_half_a_clip(sources: list[Path]) -> None:
    p = SortedAudioParams(sr=SR, overlap_ms=128.0, pad_before_ms=500.0, pad_after_ms=2000.0)
    short = [Clip(sources[0], 1600.0, 100.0)] * 3
    assert expected_duration_ms(short, p) == pytest.approx(500 + 300 - 2 * 50 + 2000, abs=0.1)
    long = [Clip(sources[0], 1600.0, 1000.0)] * 3
    assert expected_duration_ms(long, p) == pytest.approx(500 + 3000 - 2 * 128 + 2000, abs=0.1)
    assert expected_duration_ms([], p) == 0.0


def test_bad_clip_raises_or_becomes_silence(sources: list[Path], tmp_path: Path) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00not a film" * 500)
    clips = [Clip(sources[2], 1600.0, 400.0), Clip(garbage, 0.0, 400.0)]
    params = SortedAudioParams(sr=SR)
    with pytest.raises(MediaError, match="clip 1"):
        render_sorted_audio(clips, tmp_path / "x.wav", params)
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob(".*part*"))
    result = render_sorted_audio(clips, tmp_path / "y.wav", params, on_error="silence")
    assert result.failed == (1,)
    assert result.duration_s * 1000 == pytest.approx(expected_duration_ms(clips, params))


def test_bad_arguments(sources: list[Path], tmp_path: Path) -> None:
    clip = Clip(sources[0], 1600.0, 300.0)
    with pytest.raises(ConfigError, match=r"\.wav"):
        render_sorted_audio([clip], tmp_path / "out.ogg")
    with pytest.raises(SamplemillError, match="no clips"):
        render_sorted_audio([], tmp_path / "out.wav")
    with pytest.raises(SamplemillError, match="bad span"):
        render_sorted_audio([Clip(sources[0], 0.0, 0.0)], tmp_path / "out.wav")
    with pytest.raises(ConfigError):
        SortedAudioParams(channels=6)
    with pytest.raises(ConfigError):
        SortedAudioParams(overlap_ms=-1)


def test_streams_clip_by_clip(
    sources: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.render.sorted_audio.renderer as sa
    from worker.render.writers import AudioWriter

    reads: list[tuple[float, float]] = []
    blocks: list[int] = []
    real_read, real_write = sa.read_segment, AudioWriter.write

    def spy_read(path, start_s, dur_s, **kw):  # type: ignore[no-untyped-def]
        reads.append((start_s, dur_s))
        return real_read(path, start_s, dur_s, **kw)

    def spy_write(self, block):  # type: ignore[no-untyped-def]
        blocks.append(block.shape[1])
        return real_write(self, block)

    monkeypatch.setattr(sa, "read_segment", spy_read)
    monkeypatch.setattr(AudioWriter, "write", spy_write)
    clips = [Clip(sources[i % 6], 1600.0 + 10 * i, 300.0) for i in range(40)]
    p = SortedAudioParams(sr=SR, pad_before_ms=500.0, pad_after_ms=2000.0)
    render_sorted_audio(clips, tmp_path / "s.wav", p)
    assert reads == [(c.start_ms / 1000, c.dur_ms / 1000) for c in clips]  # only each span
    assert sum(blocks) == round(expected_duration_ms(clips, p) * SR / 1000)
    assert max(blocks) <= round(2.0 * SR)  # written as it goes: never more than the padding
    assert len(blocks) >= len(clips)

"""Decoding: blocks cover the track at the right rate; segments match; errors are MediaError."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MediaError
from tests.mediagen import (
    tone_sequence,
    write_garbage,
    write_media,
    write_truncated,
    write_video_only,
)
from worker.analysis.decode import SegmentReader, iter_audio_blocks, read_segment

SR = 22050


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """Ten seconds of tones in light noise."""
    y, _ = tone_sequence(30, SR, seed=3)
    assert y.size >= 10 * SR
    return y[: 10 * SR]


def _full(path, sr: int = SR) -> np.ndarray:
    """Decode a whole file with iter_audio_blocks."""
    return np.concatenate(list(iter_audio_blocks(path, sr=sr, block_seconds=3.0)))


def test_blocks_have_fixed_size_and_cover_wav_exactly(tmp_path, signal):
    path = write_media(tmp_path / "a.wav", signal, SR)
    blocks = list(iter_audio_blocks(path, sr=SR, block_seconds=3.0))
    assert [b.size for b in blocks[:-1]] == [3 * SR] * (len(blocks) - 1)
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    y = np.concatenate(blocks)
    assert y.size == signal.size
    assert np.max(np.abs(y - signal)) < 1e-4  # 16-bit quantisation only


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mp3", ".flac", ".m4a"])
def test_lossy_and_other_containers_decode_aligned(tmp_path, signal, suffix):
    path = write_media(tmp_path / f"a{suffix}", signal, SR)
    y = _full(path)
    assert abs(y.size - signal.size) < 0.1 * SR  # codec padding at most
    n = min(y.size, signal.size)
    err = y[:n] - signal[:n]
    snr = 10 * np.log10(np.sum(signal[:n] ** 2) / np.sum(err**2))
    assert snr > 10, f"{suffix}: decoded audio misaligned or damaged (SNR {snr:.1f} dB)"


def test_resamples_and_downmixes(tmp_path):
    sr_in = 44100
    t = np.arange(3 * sr_in) / sr_in
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)])
    path = write_media(tmp_path / "s.wav", stereo, sr_in)
    y = _full(path, sr=SR)
    assert abs(y.size - 3 * SR) <= 2
    spec = np.abs(np.fft.rfft(y[SR // 2 : SR // 2 + SR]))
    assert abs(np.argmax(spec) * SR / SR - 440) <= 1  # 1 s window: 1 Hz bins
    # ffmpeg's standard downmix: mono = (L + R) / sqrt(2)
    assert 0.68 < np.max(np.abs(y)) < 0.73


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp4"])
def test_read_segment_matches_full_decode(tmp_path, signal, suffix):
    path = write_media(tmp_path / f"a{suffix}", signal, SR)
    full = _full(path)
    tol = 1e-6 if suffix != ".mp4" else 0.02  # AAC restarts its overlap after a seek
    for start in (0.0, 0.37, 4.0, 7.25):
        seg = read_segment(path, start, 1.5, sr=SR)
        assert seg.shape == (round(1.5 * SR),)
        i = round(start * SR)
        assert np.max(np.abs(seg - full[i : i + seg.size])) < tol, start


def test_read_segment_channels_and_padding(tmp_path, signal):
    stereo = np.stack([signal, -0.5 * signal])
    path = write_media(tmp_path / "st.flac", stereo, SR)
    seg = read_segment(path, 2.0, 0.5, sr=SR, channels=2)
    assert seg.shape == (2, SR // 2)
    assert np.allclose(seg[0], -2 * seg[1], atol=1e-3)
    assert np.allclose(seg[0], signal[2 * SR : 2 * SR + SR // 2], atol=1e-4)
    tail = read_segment(path, 9.5, 1.0, sr=SR, channels=2)  # half past the end
    assert tail.shape == (2, SR)
    assert np.all(tail[:, SR // 2 :] == 0)
    assert np.allclose(tail[0, : SR // 2], signal[int(9.5 * SR) :], atol=1e-4)


def test_errors_are_media_errors(tmp_path, signal):
    with pytest.raises(MediaError, match="no audio"):
        list(iter_audio_blocks(write_video_only(tmp_path / "v.mp4", 2.0)))
    with pytest.raises(MediaError, match="no audio"):
        read_segment(tmp_path / "v.mp4", 0.0, 1.0)
    with pytest.raises(MediaError, match="Invalid data"):
        list(iter_audio_blocks(write_garbage(tmp_path / "g.mp4")))
    good = write_media(tmp_path / "a.mp4", signal, SR)
    with pytest.raises(MediaError):  # moov atom lost with the tail
        read_segment(write_truncated(good, tmp_path / "t.mp4", 0.5), 0.0, 1.0)
    with pytest.raises(MediaError):
        list(iter_audio_blocks(tmp_path / "missing.wav"))


def test_surround_48k_is_downmixed_and_resampled(tmp_path, signal):
    six = np.stack([signal * 0.2] * 6)
    path = write_media(tmp_path / "six.mp4", six, SR, video=False)
    y = _full(path, sr=16000)
    assert abs(y.size - signal.size * 16000 / SR) < 0.1 * 16000
    assert np.max(np.abs(y)) > 0.05  # every channel mixed in, nothing silent
    seg = read_segment(path, 1.0, 0.5, sr=16000, channels=2)
    assert seg.shape == (2, 8000) and np.abs(seg).max() > 0.01


@pytest.mark.parametrize("suffix", [".flac", ".mp4"])
def test_segment_reader_reads_many_segments_in_any_order(tmp_path, signal, suffix):
    path = write_media(tmp_path / f"a{suffix}", signal, SR)
    full = _full(path)
    tol = 1e-6 if suffix == ".flac" else 0.02
    with SegmentReader(path, sr=SR) as reader:
        for start in (6.0, 0.1, 3.3, 0.0, 8.7, 3.3):
            seg = reader.read(start, 0.4)
            i = round(start * SR)
            assert np.max(np.abs(seg - full[i : i + seg.size])) < tol, start

"""Decoded audio lines up with the source it was encoded from, within 1 ms, in every container.

Encoders prepend priming samples (AAC 1024, MP3 ~1105, Opus 312); containers signal them in
different ways (MP4 edit lists, Matroska CodecDelay, LAME tags, Ogg pre-skip) or not at all
(ADTS, MPEG-TS, FLV). A sample's start time must not depend on which one a file went through.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from worker.analysis import iter_audio_blocks, read_segment

SR = 22050


def _noise(sr: int, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Band-limited noise bursts: broadband, so cross-correlation has one sharp peak."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(int(sr * seconds)) * 0.25
    gate = np.repeat(rng.random(int(seconds * 20)) > 0.5, sr // 20)
    y[: gate.size] *= gate
    return resample_poly(y, 1, 2).repeat(2)[: y.size].astype(np.float32)  # < sr / 4


def _encode(path, y: np.ndarray, sr: int, codec: str, fmt: str | None = None) -> None:
    """Encode mono float audio with PyAV (the same libraries as ffmpeg's command line)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=sr)
        s.layout = "mono"
        step = s.codec_context.frame_size or 1024
        for i in range(0, y.size, step):
            f = av.AudioFrame.from_ndarray(y[None, i : i + step].copy(), format="fltp",
                                           layout="mono")
            f.sample_rate, f.pts, f.time_base = sr, i, Fraction(1, sr)
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _lag_ms(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Return how much later a is than b (ms), by cross-correlation with parabolic refinement."""
    n = min(a.size, b.size)
    m = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.fft.rfft(a[:n], m) * np.conj(np.fft.rfft(b[:n], m)), m)
    k = int(np.argmax(c))
    y0, y1, y2 = c[k - 1], c[k], c[(k + 1) % m]
    frac = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    lag = (k if k < m // 2 else k - m) + frac
    return 1000.0 * lag / sr


CASES = [  # (suffix, codec, container format, source rate)
    (".m4a", "aac", None, 44100), (".mp4", "aac", None, 48000), (".mov", "aac", None, 44100),
    (".mkv", "aac", None, 44100), (".aac", "aac", "adts", 44100), (".aac", "aac", "adts", 48000),
    (".ts", "aac", "mpegts", 48000), (".flv", "aac", None, 44100),
    (".mp3", "libmp3lame", None, 44100), (".mp4", "libmp3lame", None, 48000),
    (".ogg", "libopus", None, 48000), (".webm", "libopus", None, 48000),
]


@pytest.mark.parametrize(("suffix", "codec", "fmt", "rate"), CASES,
                         ids=[f"{c[1]}{c[0]}-{c[3]}" for c in CASES])
def test_decoded_times_match_the_source(tmp_path, suffix, codec, fmt, rate):
    src = _noise(rate)
    wav, enc = tmp_path / "src.wav", tmp_path / f"enc{suffix}"
    _encode(wav, src, rate, "pcm_s16le")
    _encode(enc, src, rate, codec, fmt)
    ref = np.concatenate(list(iter_audio_blocks(wav, sr=SR)))
    got = np.concatenate(list(iter_audio_blocks(enc, sr=SR, block_seconds=1.0)))
    assert abs(got.size - ref.size) < 0.1 * SR
    lag = _lag_ms(got, ref, SR)
    assert abs(lag) < 1.0, f"{codec} in {suffix}: decoded audio is {lag:+.2f} ms off its source"
    # A seeked read of the same file agrees with the streamed decode.
    seg = read_segment(enc, 2.0, 1.0, sr=SR)
    assert abs(_lag_ms(seg, ref[2 * SR : 3 * SR], SR)) < 1.0

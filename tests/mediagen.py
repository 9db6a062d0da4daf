"""Write real media files and synthesise signals with known truth, for the project's tests."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Suffix -> (default audio codec, container can hold video).
_AUDIO_CODECS: dict[str, tuple[str, bool]] = {
    ".mp4": ("aac", True),
    ".m4a": ("aac", False),
    ".mov": ("aac", True),
    ".mkv": ("aac", True),
    ".wav": ("pcm_s16le", False),
    ".flac": ("flac", False),
    ".mp3": ("libmp3lame", False),
}


def _video_codec() -> str:
    """Return the cheapest available video encoder (h264 if built in, else mpeg4)."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _as_planar(audio: np.ndarray) -> np.ndarray:
    """Return audio as a C-contiguous float32 (channels, n) array clipped to [-1, 1]."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[np.newaxis, :]
    if a.ndim != 2:
        raise ValueError("audio must be (n,) or (channels, n)")
    return np.ascontiguousarray(np.clip(a, -1.0, 1.0))


def _add_video(container: av.container.OutputContainer, fps: int, size: tuple[int, int]):
    """Add a small yuv420p video stream to an output container."""
    vs = container.add_stream(_video_codec(), rate=fps)
    vs.width, vs.height = size
    vs.pix_fmt = "yuv420p"
    if vs.codec_context.name == "libx264":
        vs.options = {"preset": "ultrafast", "tune": "zerolatency"}
    return vs


def _write_video_frames(container, vs, seconds: float, fps: int, size: tuple[int, int]) -> None:
    """Encode ceil(seconds * fps) frames of a slowly changing grey picture."""
    n = max(1, int(np.ceil(seconds * fps)))
    w, h = size
    for i in range(n):
        img = np.full((h, w, 3), (i * 7) % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        for pkt in vs.encode(frame):
            container.mux(pkt)
    for pkt in vs.encode():
        container.mux(pkt)


def write_media(
    path: str | Path,
    audio: np.ndarray,
    sr: int,
    *,
    video: bool = True,
    fps: int = 12,
    size: tuple[int, int] = (64, 48),
    audio_codec: str | None = None,
    bit_rate: int | None = None,
) -> Path:
    """Write audio (mono (n,) or (channels, n) float) to a real media file chosen by suffix.

    .mp4/.mov/.mkv get an aac track plus (if `video`) a tiny h264/mpeg4 track; .m4a, .wav,
    .flac and .mp3 are audio only. `audio_codec` overrides the suffix's default codec;
    `bit_rate` (lossy codecs) defaults to 128 kb/s per channel, typical of film soundtracks.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _AUDIO_CODECS:
        raise ValueError(f"unsupported suffix {suffix!r}")
    codec, can_video = _AUDIO_CODECS[suffix]
    codec = audio_codec or codec
    planar = _as_planar(audio)
    channels, n = planar.shape
    seconds = n / sr
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sr)
        stream.layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")
        if codec in ("aac", "libmp3lame"):
            stream.bit_rate = bit_rate or 128000 * channels
        vs = _add_video(container, fps, size) if (video and can_video) else None
        block = 4096
        for i in range(0, n, block):
            chunk = np.ascontiguousarray(planar[:, i : i + block])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
            frame.sample_rate = sr
            frame.pts = i
            frame.time_base = Fraction(1, sr)
            for pkt in stream.encode(frame):
                container.mux(pkt)
        for pkt in stream.encode():
            container.mux(pkt)
        if vs is not None:
            _write_video_frames(container, vs, seconds, fps, size)
    return path


def write_video_only(
    path: str | Path, seconds: float, *, fps: int = 12, size: tuple[int, int] = (64, 48)
) -> Path:
    """Write a video file with no audio track (e.g. .mp4 or .mkv)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        vs = _add_video(container, fps, size)
        _write_video_frames(container, vs, seconds, fps, size)
    return path


def write_truncated(src: str | Path, dst: str | Path, keep: float = 0.5) -> Path:
    """Copy the first `keep` fraction of a file's bytes to dst (a truncated download)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def write_garbage(path: str | Path, nbytes: int = 4096, seed: int = 0) -> Path:
    """Write random bytes under a media-looking name (a corrupt or mislabeled file)."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    return path


@dataclass(frozen=True)
class ToneTruth:
    """Ground truth of a tone sequence: onset (s), f0 (Hz), peak level (dBFS) per tone."""

    onsets: np.ndarray
    f0: np.ndarray
    db: np.ndarray
    durations: np.ndarray


def harmonic_tone(
    f0: float,
    seconds: float,
    sr: int,
    *,
    n_harmonics: int = 6,
    attack_s: float = 0.01,
    decay_s: float = 0.25,
    phase_seed: int = 0,
) -> np.ndarray:
    """One harmonic tone (1/k amplitudes) with a linear attack and exponential decay, peak 1."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(phase_seed)
    y = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        if k * f0 < sr / 2 * 0.95:
            y += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k
    env = np.minimum(t / attack_s, 1.0) * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)
    y *= env
    peak = np.max(np.abs(y)) if y.size else 0.0
    return (y / peak if peak > 0 else y).astype(np.float32)


def tone_sequence(
    n_tones: int = 20,
    sr: int = 22050,
    *,
    seed: int = 0,
    gap_range: tuple[float, float] = (0.25, 0.6),
    f0_range: tuple[float, float] = (80.0, 900.0),
    db_levels: tuple[float, ...] = (-6.0, -18.0, -30.0),
    noise_db: float | None = -60.0,
    lead_s: float = 0.5,
    tail_s: float = 0.5,
    decay_s: float = 0.25,
) -> tuple[np.ndarray, ToneTruth]:
    """Synthesise harmonic tones at random onsets/pitches/levels (plus white noise) with truth.

    Tones are spaced `gap_range` seconds apart, each lasting until the next onset; the level
    cycles through `db_levels` (dBFS peak); `noise_db` is the white-noise RMS level or None.
    """
    rng = np.random.default_rng(seed)
    gaps = rng.uniform(*gap_range, n_tones)
    onsets = lead_s + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    # Log-uniform pitches, snapped to nothing in particular (arbitrary cents).
    f0 = np.exp(rng.uniform(np.log(f0_range[0]), np.log(f0_range[1]), n_tones))
    db = np.array([db_levels[i % len(db_levels)] for i in range(n_tones)], dtype=float)
    total = onsets[-1] + gaps[-1] + tail_s
    y = np.zeros(int(total * sr), dtype=np.float32)
    for i in range(n_tones):
        start = round(onsets[i] * sr)
        tone = harmonic_tone(f0[i], gaps[i], sr, decay_s=decay_s, phase_seed=seed * 1000 + i)
        y[start : start + tone.size] += tone[: y.size - start] * np.float32(10 ** (db[i] / 20))
    if noise_db is not None:
        y += rng.standard_normal(y.size).astype(np.float32) * np.float32(10 ** (noise_db / 20))
    return y, ToneTruth(onsets=onsets, f0=f0, db=db, durations=gaps)


def white_noise(seconds: float, sr: int = 22050, *, db: float = -20.0, seed: int = 0):
    """Gaussian white noise at `db` dBFS RMS, float32."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * sr)) * 10 ** (db / 20)).astype(np.float32)


def speechlike(seconds: float, sr: int = 22050, *, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts: gliding buzzy harmonics through two formant-ish resonances."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n, dtype=np.float32)
    t = 0.2
    while t < seconds - 0.3:
        dur = rng.uniform(0.08, 0.3)
        m = int(dur * sr)
        f = rng.uniform(100, 250) * np.linspace(1.0, rng.uniform(0.8, 1.2), m)
        phase = 2 * np.pi * np.cumsum(f) / sr
        src = np.sign(np.sin(phase)) * 0.3 + 0.05 * rng.standard_normal(m)
        for fc in (rng.uniform(300, 900), rng.uniform(900, 2500)):
            r = 0.97
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sr), r * r]
            src = lfilter([1 - r], a, src)
        env = np.hanning(m)
        s = int(t * sr)
        y[s : s + m] += (src * env * 0.5 / (np.max(np.abs(src)) + 1e-9)).astype(np.float32)
        t += dur + rng.uniform(0.05, 0.4)
    return y

"""Small audio for people to hear a sample, a context window or a file's shape: a decoded range
encoded as Ogg Opus or 16-bit WAV, a file's waveform peaks, and a sample pack (zip of WAVs
plus a CSV manifest). Pure: paths and numbers in, bytes out."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from core.errors import ConfigError
from worker.analysis.decode import iter_audio_blocks, read_segment

FORMATS = {"opus": "audio/ogg", "wav": "audio/wav"}
OPUS_RATE = 48_000  # Opus codes 48 kHz
WAV_RATE = 44_100
OPUS_BIT_RATE = 48_000
FADE_MS = 4.0  # a few ms in and out, so cut edges do not click


def _faded(audio: np.ndarray, sr: int, fade_ms: float = FADE_MS) -> np.ndarray:
    """The audio with short linear fades at both ends, clipped to [-1, 1]."""
    out = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    n = min(len(out) // 2, round(sr * fade_ms / 1000))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def encode(audio: np.ndarray, sr: int, fmt: str) -> bytes:
    """Mono float audio as an Ogg Opus or 16-bit WAV file's bytes."""
    if fmt == "wav":
        buf = io.BytesIO()
        sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    if fmt != "opus":
        raise ConfigError(f"audio format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=sr)
        stream.layout = "mono"
        stream.bit_rate = OPUS_BIT_RATE
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.float32).reshape(1, -1), format="flt",
            layout="mono")
        frame.sample_rate = sr
        frame.pts = 0
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def clip_audio(
    path: str | Path, start_ms: float, dur_ms: float, *, fmt: str = "opus",
    cap_ms: float | None = None,
) -> bytes:
    """Decode `dur_ms` from `start_ms` of a file's audio (at most `cap_ms`), faded, encoded."""
    if fmt not in FORMATS:
        raise ConfigError(f"audio format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if dur_ms <= 0 or start_ms < 0:
        raise ConfigError(f"a clip needs start >= 0 and a positive length, got {start_ms}, "
                          f"{dur_ms}")
    if cap_ms is not None:
        dur_ms = min(dur_ms, cap_ms)
    sr = OPUS_RATE if fmt == "opus" else WAV_RATE
    audio = read_segment(path, start_ms / 1000.0, dur_ms / 1000.0, sr=sr)
    return encode(_faded(audio, sr), sr, fmt)


@dataclass(frozen=True)
class Peaks:
    """A file's waveform: min and max of each of `len(low)` equal slices of its audio."""

    duration: float
    low: list[float]
    high: list[float]


def waveform_peaks(path: str | Path, *, buckets: int = 1600, sr: int = 8000) -> Peaks:
    """Min/max per slice over the whole audio, decoded in blocks (memory stays small)."""
    if buckets < 1:
        raise ConfigError("buckets must be >= 1")
    # Two passes would double the decode; keep per-second extremes, then pool them.
    per = max(1, sr // 20)  # 50 ms slices first
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    total = 0
    for block in iter_audio_blocks(path, sr=sr, block_seconds=30.0):
        total += block.size
        data = np.concatenate([carry, block])
        whole = data.size // per * per
        if whole:
            shaped = data[:whole].reshape(-1, per)
            lows.append(shaped.min(axis=1))
            highs.append(shaped.max(axis=1))
        carry = data[whole:]
    if carry.size:
        lows.append(np.array([carry.min()]))
        highs.append(np.array([carry.max()]))
    low = np.concatenate(lows) if lows else np.zeros(1, np.float32)
    high = np.concatenate(highs) if highs else np.zeros(1, np.float32)
    edges = np.linspace(0, low.size, min(buckets, low.size) + 1).astype(int)
    lo = np.minimum.reduceat(low, edges[:-1])
    hi = np.maximum.reduceat(high, edges[:-1])
    return Peaks(total / sr, [round(float(v), 4) for v in lo], [round(float(v), 4) for v in hi])


@dataclass(frozen=True)
class PackEntry:
    """One sample of a pack: the WAV's name in the zip, its bytes and its manifest row."""

    name: str
    wav: bytes
    row: dict[str, object]


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name-safe stem (letters, digits, '-', '_', '.'), never empty or hidden."""
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:limit].strip("._")
    return kept or "sample"


def pack_zip(entries: Sequence[PackEntry], columns: Iterable[str]) -> bytes:
    """A zip of the entries' WAVs in `samples/` and `manifest.csv` listing them in order."""
    cols = ["file", *columns]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        manifest = io.StringIO()
        writer = csv.DictWriter(manifest, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for entry in entries:
            zf.writestr(f"samples/{entry.name}", entry.wav)
            writer.writerow({"file": f"samples/{entry.name}", **entry.row})
        zf.writestr("manifest.csv", manifest.getvalue())
    return buf.getvalue()

"""Generated films for the sound-led renders: frame numbers drawn in the picture, known sound.

Each frame carries its index as 16 black/white blocks along the top (read back after lossy
coding by `read_frame_code`), so a test can tell exactly which source frame an output shows.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODE_BITS = 16


def coded_picture(index: int, size: tuple[int, int], *, film: int = 0) -> np.ndarray:
    """An RGB picture whose top band encodes `index` and whose colour tells the film."""
    w, h = size
    hue = np.array([(film * 97) % 200 + 30, (film * 53 + 90) % 200 + 30, 120], np.uint8)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = hue
    img[h // 4 :, : w * ((index % 50) + 1) // 51] = (200, 200, 200)  # a moving bar
    band = h // 4
    bw = w // CODE_BITS
    for b in range(CODE_BITS):
        img[:band, b * bw : (b + 1) * bw] = 255 if (index >> b) & 1 else 0
    return img


def read_frame_code(rgb: np.ndarray) -> int:
    """The index encoded in a picture by coded_picture."""
    h, w = rgb.shape[:2]
    band, bw = h // 4, w // CODE_BITS
    value = 0
    for b in range(CODE_BITS):
        cell = rgb[band // 4 : band * 3 // 4, b * bw + bw // 4 : (b + 1) * bw - bw // 4]
        if cell.mean() > 127:
            value |= 1 << b
    return value


def write_coded_film(path: Path, audio: np.ndarray, sr: int, *, fps: int = 24,
                     size: tuple[int, int] = (128, 96), film: int = 0,
                     gop: int = 48) -> Path:
    """An mp4 (H.264 + AAC) whose frames carry their index; audio mono (n,) or (ch, n)."""
    a = np.asarray(audio, np.float32)
    a = a[np.newaxis] if a.ndim == 1 else a
    n_frames = int(np.ceil(a.shape[1] / sr * fps))
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast", "g": str(gop), "crf": "18"}
        aus = c.add_stream("aac", rate=sr)
        aus.layout = "mono" if a.shape[0] == 1 else "stereo"
        aus.bit_rate = 128000
        step = 1024
        for i in range(0, a.shape[1], step):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(a[:, i : i + step]),
                                            format="fltp", layout=aus.layout.name)
            fr.sample_rate, fr.pts, fr.time_base = sr, i, Fraction(1, sr)
            for p in aus.encode(fr):
                c.mux(p)
        for p in aus.encode():
            c.mux(p)
        for i in range(n_frames):
            fr = av.VideoFrame.from_ndarray(coded_picture(i, size, film=film), format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, fps)
            for p in vs.encode(fr):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    return path


def decode_codes(path: Path) -> list[int]:
    """Frame index drawn in each decoded frame of a file, in order."""
    with av.open(str(path)) as c:
        return [read_frame_code(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def phrases(durations: list[tuple[float, float]], sr: int, *, seed: int = 0,
            level: float = 0.5) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bursts of noisy harmonic sound separated by near-silence: (sound_s, pause_s) pairs.

    Returns the audio and the (start, end) of every sound burst, in seconds.
    """
    rng = np.random.default_rng(seed)
    total = sum(s + p for s, p in durations)
    y = (rng.standard_normal(int(total * sr)) * 1e-4).astype(np.float32)  # room tone
    spans, t = [], 0.0
    for k, (sound, pause) in enumerate(durations):
        a, n = round(t * sr), round(sound * sr)
        tt = np.arange(n) / sr
        f0 = 110 + 40 * (k % 7)
        burst = sum(np.sin(2 * np.pi * f0 * j * tt) / j for j in range(1, 6))
        burst = burst + 0.3 * rng.standard_normal(n)
        env = np.minimum(1.0, np.minimum(tt, tt[::-1]) / 0.01)
        y[a : a + n] += (level * burst / np.max(np.abs(burst)) * env).astype(np.float32)
        spans.append((t, t + sound))
        t += sound + pause
    return y, spans


def espeak_available() -> bool:
    """Whether the espeak-ng speech synthesiser is installed."""
    return shutil.which("espeak-ng") is not None


def espeak_speech(text: str, out_wav: Path, *, speed: int = 150) -> Path:
    """Speak `text` into a wav with espeak-ng (argument list, never a shell)."""
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(out_wav), "--", text],
                   check=True, capture_output=True)
    return out_wav


def note_hz(midi: float) -> float:
    """Frequency of a MIDI note number."""
    return 440.0 * 2 ** ((midi - 69) / 12)


def tone_track(notes: list[int], note_s: float, sr: int, *, level: float = 0.3,
               seed: int = 0) -> np.ndarray:
    """Sustained harmonic tones, one per MIDI note, each `note_s` long with 10 ms ramps."""
    rng = np.random.default_rng(seed)
    n = round(note_s * sr)
    t = np.arange(n) / sr
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
    out = []
    for m in notes:
        f0 = note_hz(m)
        y = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
                for k in range(1, 6) if f0 * k < sr / 2 * 0.9)
        out.append((level * ramp * y / np.max(np.abs(y))).astype(np.float32))
    return np.concatenate(out)

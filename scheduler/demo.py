"""A small offline collection for the demo job: films with tones, chords, noise bursts, speech-like
babble, chirps and silence, each with a moving picture, written as mp4 with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SR = 22050


def write_mp4(path: Path, audio: np.ndarray, sr: int = SR, *, fps: int = 12,
              size: tuple[int, int] = (96, 64), video: bool = True,
              with_audio: bool = True) -> Path:
    """Encode mono float audio (and a simple animated picture) into an mp4 file.

    With `with_audio=False` only the picture is written (its length taken from `audio`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with av.open(str(path), "w") as out:
        astream = out.add_stream("aac", rate=sr, layout="mono") if with_audio else None
        vstream = None
        if video:
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            vstream = out.add_stream(codec, rate=fps)
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
        hop = 1024
        for start in range(0, len(audio) if astream is not None else 0, hop):
            frame = av.AudioFrame.from_ndarray(audio[None, start:start + hop], format="flt",
                                               layout="mono")
            frame.sample_rate = sr
            frame.pts = start
            frame.time_base = Fraction(1, sr)
            for packet in astream.encode(frame):
                out.mux(packet)
        if astream is not None:
            for packet in astream.encode(None):
                out.mux(packet)
        if vstream is not None:
            n_frames = max(1, int(len(audio) / sr * fps))
            width, height = size
            x = np.arange(width)[None, :]
            for i in range(n_frames):
                level = np.abs(audio[int(i * sr / fps):int((i + 1) * sr / fps)]).max(initial=0)
                img = np.zeros((height, width, 3), np.uint8)
                img[..., 0] = (x * 2 + i * 4) % 256
                img[..., 1] = int(255 * level)
                img[..., 2] = 96
                vframe = av.VideoFrame.from_ndarray(img, format="rgb24")
                vframe.pts = i
                for packet in vstream.encode(vframe):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


def _note(f0: float, dur: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    env = np.minimum(1.0, t / 0.01) * np.exp(-t * rng.uniform(2.5, 6.0))
    return (tone * env * rng.uniform(0.15, 0.45)).astype(np.float32)


def _noise_burst(dur: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    return (rng.normal(0, 0.2, t.size) * np.exp(-t * 12)).astype(np.float32)


def _babble(dur: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Speech-like: vowel formant buzz in syllables of 120-300 ms with pauses."""
    out = np.zeros(int(dur * sr), np.float32)
    pos = 0
    while pos < out.size:
        syl = int(rng.uniform(0.12, 0.3) * sr)
        t = np.arange(syl) / sr
        f0 = rng.uniform(100, 220)
        buzz = np.sign(np.sin(2 * np.pi * f0 * t)) * 0.3
        formant = np.sin(2 * np.pi * rng.uniform(500, 900) * t)
        seg = (buzz * formant * np.hanning(syl)).astype(np.float32)
        end = min(out.size, pos + syl)
        out[pos:end] = seg[: end - pos]
        pos = end + int(rng.uniform(0.05, 0.25) * sr)
    return out


def _chirp(dur: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    f = rng.uniform(200, 400) * (1 + 3 * t / dur)
    return (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(t.size)).astype(np.float32)


def demo_film(seconds: float, style: str, seed: int, sr: int = SR) -> np.ndarray:
    """One film's soundtrack in a given style: melody, percussion, talk, sweeps or a mix."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    pos = int(0.3 * sr)
    scale = 110.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) / 12) * rng.choice([1, 2, 4])
    while pos < out.size - sr // 4:
        kind = style if style != "mix" else rng.choice(["melody", "percussion", "talk", "sweeps"])
        if kind == "melody":
            piece = _note(float(rng.choice(scale)), rng.uniform(0.2, 0.7), rng, sr)
        elif kind == "percussion":
            piece = _noise_burst(rng.uniform(0.1, 0.3), rng, sr)
        elif kind == "talk":
            piece = _babble(rng.uniform(0.6, 1.5), rng, sr)
        else:
            piece = _chirp(rng.uniform(0.3, 0.8), rng, sr)
        end = min(out.size, pos + piece.size)
        out[pos:end] += piece[: end - pos]
        pos = end + int(rng.uniform(0.05, 0.4) * sr)
    return out


STYLES = ("melody", "percussion", "talk", "sweeps", "mix")


def make_demo_collection(folder: Path, *, films: int = 10, seconds: float = 20.0) -> list[Path]:
    """Write `films` demo films (plus one silent film) into `folder`; existing ones are kept."""
    paths = []
    for i in range(films):
        style = STYLES[i % len(STYLES)]
        path = folder / f"{style}-{i:02d}.mp4"
        if not path.exists():
            write_mp4(path, demo_film(seconds, style, seed=i))
        paths.append(path)
    silent = folder / "silent-film.mp4"
    if not silent.exists():
        write_mp4(silent, np.zeros(int(5 * SR), np.float32))
    paths.append(silent)
    return paths

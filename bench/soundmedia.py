"""Long generated films for the sound-led benches, cached under /tmp (minutes to make once).

A film is H.264 ultrafast (GOP 250, like typical encodes) of a flat picture with a moving bar
and its frame number in blocks, with mono AAC of speech-like phrases between pauses, tones and
room noise. Pictures are built as yuv420p planes directly, so generation is encoder-bound.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CACHE = Path(os.environ.get("SAMPLEMILL_BENCH_CACHE", "/tmp/samplemill-bench"))
SR = 48000
CODE_BITS = 16


def phrase_audio(seconds: float, sr: int = SR, *, seed: int = 0) -> np.ndarray:
    """Bursts of buzzy harmonic sound (0.3–2 s) between pauses (0.15–0.8 s), over room tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = (rng.standard_normal(n) * 3e-4).astype(np.float32)
    t = float(rng.uniform(0, 0.5))
    while t < seconds - 0.5:
        dur = float(rng.uniform(0.3, 2.0))
        a, m = int(t * sr), min(int(dur * sr), n - int(t * sr))
        tt = np.arange(m, dtype=np.float32) / sr
        f0 = float(rng.uniform(90, 600))
        glide = f0 * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * tt))
        phase = 2 * np.pi * np.cumsum(glide) / sr
        burst = sum(np.sin(k * phase) / k for k in range(1, 7))
        burst = burst + 0.2 * rng.standard_normal(m)
        env = np.minimum(1.0, np.minimum(tt, tt[::-1]) / 0.02)
        level = float(rng.uniform(0.15, 0.6))
        y[a : a + m] += (level * env * burst / np.max(np.abs(burst))).astype(np.float32)
        t += dur + float(rng.uniform(0.15, 0.8))
    return y


def _planes(size: tuple[int, int], seed: int) -> np.ndarray:
    """A base yuv420p picture (h * 3 / 2, w) of one flat colour."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.empty((h * 3 // 2, w), np.uint8)
    img[:h] = rng.integers(40, 200)
    img[h:] = rng.integers(60, 190)
    return img


def write_film(path: Path, seconds: float, *, size: tuple[int, int] = (640, 480),
               fps: int = 25, seed: int = 0) -> Path:
    """Write (once) a film of `seconds` with phrase audio; returns the cached path."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part.mp4")
    w, h = size
    base = _planes(size, seed)
    bw = w // CODE_BITS
    band = h // 8
    with av.open(str(tmp), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "g": "250", "crf": "28"}
        vs.codec_context.thread_count = 2
        aus = c.add_stream("aac", rate=SR)
        aus.layout = "mono"
        aus.bit_rate = 96000
        aus.options = {"aac_coder": "fast"}
        step_s = 60.0
        n_frames = int(seconds * fps)
        frame_i = 0
        for k in range(int(np.ceil(seconds / step_s))):
            y = phrase_audio(min(step_s, seconds - k * step_s), seed=seed * 100003 + k)
            for i in range(0, y.size, 1024):
                fr = av.AudioFrame.from_ndarray(y[None, i : i + 1024].copy(), format="fltp",
                                                layout="mono")
                fr.sample_rate, fr.pts = SR, int(k * step_s * SR) + i
                fr.time_base = Fraction(1, SR)
                for p in aus.encode(fr):
                    c.mux(p)
            end = min(n_frames, int((k + 1) * step_s * fps))
            while frame_i < end:
                img = base.copy()
                x = (frame_i * 4) % (w - 16)
                img[h // 2 : h // 2 + 32, x : x + 16] = 235
                for b in range(CODE_BITS):
                    img[:band, b * bw : (b + 1) * bw] = 235 if (frame_i >> b) & 1 else 16
                vf = av.VideoFrame.from_ndarray(img, format="yuv420p")
                vf.pts, vf.time_base = frame_i, Fraction(1, fps)
                for p in vs.encode(vf):
                    c.mux(p)
                frame_i += 1
        for p in aus.encode():
            c.mux(p)
        for p in vs.encode():
            c.mux(p)
    tmp.replace(path)
    return path


def film(name: str, seconds: float, **kw: object) -> Path:
    """The cached film CACHE/<name>.mp4, made on first use."""
    return write_film(CACHE / f"{name}.mp4", seconds, **kw)  # type: ignore[arg-type]


if __name__ == "__main__":
    import sys
    import time

    t = time.perf_counter()
    p = film(sys.argv[1], float(sys.argv[2]))
    print(p, f"{time.perf_counter() - t:.1f} s")

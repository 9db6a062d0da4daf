"""Benchmark writing video: the renders' PyAV writer against moviepy, the library the product was
first specified with (same frames, same codec settings, same machine, same process).

Run: python -m bench.video_writer [--frames 600] [--size 640x360]
moviepy is not a samplemill dependency; the comparison runs when it is importable
(pip install 'moviepy>=2,<3' into any environment on PYTHONPATH), else only PyAV is timed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from worker.render.cutlist.encode import AVWriter

FPS = 25
CRF = 20
PRESET = "veryfast"


def frames(n: int, w: int, h: int) -> list[np.ndarray]:
    """Moving gradients with a frame number stripe, so every frame differs."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        r = ((x + 4 * i) % 256).astype(np.uint8)
        g = ((y + 2 * i) % 256).astype(np.uint8)
        b = np.full((h, w), (i * 7) % 256, np.uint8)
        out.append(np.stack([r, g, b], axis=2))
    return out


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def with_pyav(images: list[np.ndarray], out: Path) -> float:
    h, w = images[0].shape[:2]
    t0 = time.perf_counter()
    with AVWriter(out, fps=Fraction(FPS), size=(w, h), audio=False, crf=CRF, preset=PRESET,
                  threads=2) as writer:
        for image in images:
            writer.write_frame(image)
    return time.perf_counter() - t0


def with_moviepy(images: list[np.ndarray], out: Path) -> float:
    from moviepy import ImageSequenceClip

    t0 = time.perf_counter()
    clip = ImageSequenceClip(images, fps=FPS)
    clip.write_videofile(str(out), codec="libx264", preset=PRESET, threads=2, audio=False,
                         ffmpeg_params=["-crf", str(CRF), "-pix_fmt", "yuv420p"], logger=None)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    images = frames(args.frames, w, h)
    print(f"load {os.getloadavg()[0]:.1f}; {args.frames} frames {w}x{h} at {FPS} fps, "
          f"libx264 crf {CRF} {PRESET}, 2 threads, best of {args.repeat}")
    try:
        import moviepy  # noqa: F401

        writers = {"pyav": with_pyav, "moviepy": with_moviepy}
    except ImportError:
        writers = {"pyav": with_pyav}
        print("moviepy not importable: timing PyAV only")
    with tempfile.TemporaryDirectory() as tmp:
        best: dict[str, float] = {}
        for name, write in writers.items():
            times, digests = [], set()
            for i in range(args.repeat):
                out = Path(tmp) / f"{name}-{i}.mp4"
                times.append(write(images, out))
                digests.add(md5(out))
            best[name] = min(times)
            print(f"{name:8s} best {best[name]:6.2f} s ({args.frames / best[name]:6.1f} frames/s)"
                  f", {decoded_frames(out)} frames decoded back, {out.stat().st_size} bytes, "
                  f"identical bytes across runs: {len(digests) == 1}")
        if "moviepy" in best:
            print(f"ratio moviepy/pyav: {best['moviepy'] / best['pyav']:.2f}")


if __name__ == "__main__":
    main()

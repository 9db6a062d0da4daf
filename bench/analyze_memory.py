"""Benchmark analysis memory: peak RSS of analyze_file on a 10-minute and a 3-hour file.

Usage: python bench/analyze_memory.py [--hours 3] [--data DIR]

The long file is a 60 s pattern (tones, speech-like bursts, noise) written repeatedly as a
22.05 kHz mono 16-bit WAV (fast to make; decoding it is trivial, so the figure is the
analysis pipeline's own footprint). Each analysis runs in a fresh child process that
reports its peak RSS (ru_maxrss) and an RSS timeline, so growth with length would show.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 22050
LIMIT_MB = 1024


def make_file(path: Path, seconds: float) -> Path:
    """Write `seconds` of a repeated 60 s pattern as a 16-bit mono WAV (cached)."""
    import soundfile as sf

    from tests.mediagen import speechlike, tone_sequence, white_noise

    if path.exists() and sf.info(str(path)).duration >= seconds - 1:
        return path
    tones, _ = tone_sequence(70, SR, seed=7)
    pattern = np.concatenate([tones[: 30 * SR], speechlike(20.0, SR, seed=7),
                              white_noise(10.0, SR, db=-30.0, seed=7)])[: 60 * SR]
    tmp = path.with_suffix(".tmp.wav")
    with sf.SoundFile(str(tmp), "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        left = int(seconds * SR)
        rng = np.random.default_rng(0)
        while left > 0:
            # a little fresh noise each repetition so no two minutes are bit-identical
            chunk = pattern[:left] + rng.standard_normal(min(left, pattern.size)).astype(
                np.float32) * np.float32(1e-3)
            f.write(chunk)
            left -= chunk.size
    tmp.rename(path)
    return path


def child(path: str) -> None:
    """Analyse one file in this process; print a JSON line with RSS figures."""
    import psutil

    from worker.analysis import AnalysisParams, analyze_file

    proc = psutil.Process()
    timeline: list[tuple[float, float]] = []
    done = threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        while not done.is_set():
            timeline.append((time.perf_counter() - t0, proc.memory_info().rss / 2**20))
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    cpu = time.process_time()
    table = analyze_file(path, AnalysisParams())
    cpu = time.process_time() - cpu
    done.set()
    thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    n = len(timeline)
    quarters = [round(timeline[min(n - 1, int(n * q))][1]) for q in (0.25, 0.5, 0.75)] if n else []
    print(json.dumps({"samples": len(table), "cpu_s": cpu, "wall_s": time.perf_counter() - t0,
                      "peak_rss_mb": peak, "rss_at_25_50_75pct_mb": quarters}))


def run_child(path: Path) -> dict:
    """Run child() in a fresh interpreter and return its figures."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Make the files, analyse each in a child process, print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--data", type=Path, default=Path("/tmp/samplemill-bench/memory"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    args.data.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    short = make_file(args.data / "ten_minutes.wav", 600.0)
    long = make_file(args.data / f"{args.hours:g}_hours.wav", args.hours * 3600.0)
    print(f"files ready in {time.perf_counter() - t:.1f} s: {short.name}, {long.name} "
          f"({long.stat().st_size / 2**20:.0f} MiB)")
    results = {}
    for label, path, seconds in (("10 min", short, 600.0), (f"{args.hours:g} h", long,
                                                            args.hours * 3600.0)):
        r = run_child(path)
        results[label] = r
        print(f"{label:>6}: peak RSS {r['peak_rss_mb']:.0f} MiB, RSS at 25/50/75% of the run "
              f"{r['rss_at_25_50_75pct_mb']} MiB, {r['samples']} samples, "
              f"{seconds / r['cpu_s']:.0f}x realtime per core ({r['cpu_s']:.1f} CPU s)")
    peak = results[f"{args.hours:g} h"]["peak_rss_mb"]
    grow = peak - results["10 min"]["peak_rss_mb"]
    print(f"floor peak RSS < {LIMIT_MB} MiB on {args.hours:g} h: {peak:.0f} MiB "
          f"{'OK' if peak < LIMIT_MB else 'ABOVE LIMIT'}; growth vs 10 min: {grow:+.0f} MiB")


if __name__ == "__main__":
    main()

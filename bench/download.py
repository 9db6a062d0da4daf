"""Benchmark download_file throughput on loopback against a plain single-stream copy.

Serves N generated files from the test archive.org server (a separate process, so it does not
share the GIL with the downloaders), then times, in one run:
  plain-1   requests iter_content to a file, one stream, no hashing, no fsync (the baseline)
  plain-8   the same with 8 threads
  +md5-1    plain-1 plus md5 of the stream (what hashing costs)
  +fsync-1  plain-1 plus one fsync per file (what durability costs)
  dl-1      download_file one file at a time (hash + fsync + rename + verify)
  dl-1-min  dl-1 with the minimum-rate check on (SAMPLEMILL_MIN_DOWNLOAD_RATE's default)
  dl-8      download_file from 8 threads
and prints MB/s and ratios to plain-1.

    python -m bench.download [--files 8] [--size-mb 64] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

from worker.sources.download import RetryPolicy, download_file
from worker.sources.internet_archive import download_url
from worker.sources.local import md5_file

ROOT = Path(__file__).resolve().parents[1]
ITEM = "benchitem"


def make_files(folder: Path, count: int, size: int) -> list[tuple[str, int, str]]:
    """Write `count` random files of `size` bytes; return (name, size, md5) for each."""
    item = folder / ITEM
    item.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    out = []
    for i in range(count):
        p = item / f"film{i}.mp4"
        with open(p, "wb") as f:
            left = size
            while left:
                n = min(left, 16 << 20)
                f.write(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
                left -= n
        out.append((p.name, size, md5_file(p)))
    return out


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """Start `python -m tests.ia_server --dir folder`; return the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ia_server", "--dir", str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError("test server did not start")
    return proc, url


def plain_copy(url: str, dest: Path, *, md5: bool = False, fsync: bool = False) -> None:
    """The baseline: stream a URL to a file; optionally hash or fsync, to explain the gap."""
    h = hashlib.md5()
    with requests.get(url, stream=True, timeout=30) as r, open(dest, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
            if md5:
                h.update(chunk)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def timed(jobs: list[Callable[[], object]], threads: int) -> float:
    """Wall seconds to run all jobs on `threads` threads."""
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for fut in [pool.submit(j) for j in jobs]:
            fut.result()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-dl-", dir=args.workdir))
    proc = None
    try:
        files = make_files(work / "served", args.files, args.size_mb << 20)
        total_mb = sum(s for _, s, _ in files) / 1e6
        proc, base = start_server(work / "served")
        out = work / "out"
        policy = RetryPolicy(attempts=3, base_delay=0.1, max_delay=1)

        def plain_jobs(**kw: bool) -> Callable[[], list[Callable[[], object]]]:
            return lambda: [
                (lambda n=n: plain_copy(download_url(base, ITEM, n), out / n, **kw))
                for n, _, _ in files
            ]

        def dl_jobs(min_rate: float = 0.0) -> list[Callable[[], object]]:
            return [
                (
                    lambda n=n, s=s, m=m: download_file(
                        download_url(base, ITEM, n),
                        out / n,
                        expected_size=s,
                        expected_md5=m,
                        policy=policy,
                        min_rate=min_rate,
                    )
                )
                for n, s, m in files
            ]

        modes = {
            "plain-1": (plain_jobs(), 1),
            "plain-8": (plain_jobs(), 8),
            "+md5-1": (plain_jobs(md5=True), 1),
            "+fsync-1": (plain_jobs(fsync=True), 1),
            "dl-1": (dl_jobs, 1),
            "dl-1-min": (lambda: dl_jobs(8192.0), 1),
            "dl-8": (dl_jobs, 8),
        }
        results: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.repeat):
            for mode, (make, threads) in modes.items():
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                results[mode].append(total_mb / timed(make(), threads))
        print(f"{args.files} files x {args.size_mb} MiB = {total_mb:.0f} MB, best of {args.repeat}")
        print(f"{'mode':8} {'best MB/s':>10} {'median':>8} {'vs plain-1':>10}")
        base_rate = max(results["plain-1"])
        for mode, rates in results.items():
            best, med = max(rates), statistics.median(rates)
            print(f"{mode:8} {best:10.0f} {med:8.0f} {best / base_rate:10.2f}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

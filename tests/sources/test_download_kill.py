"""A download killed with SIGKILL resumes from its .part on the next run instead of restarting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.ia_server import IAServer, ServedFile, tree
from worker.sources.download import RetryPolicy, download_file, part_path

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from pathlib import Path
from worker.sources.download import download_file
download_file(sys.argv[1], Path(sys.argv[2]), expected_size=int(sys.argv[3]),
              expected_md5=sys.argv[4], timeout=30)
"""


def test_sigkill_mid_download_then_resume(tmp_path: Path) -> None:
    """Kill the downloading process once its part has bytes; a rerun sends Range from there."""
    media = tmp_path / "data"
    payload = os.urandom(4 * 1024 * 1024)
    with IAServer() as srv:
        srv.add_item("film", {}, [ServedFile("big.mp4", payload, rate=1_000_000)])
        f = srv.file("film", "big.mp4")
        dest = media / "film" / "big.mp4"
        part = part_path(dest)
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                srv.download_url("film", "big.mp4"),
                str(dest),
                str(f.size),
                f.md5,
            ],
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 20
            while not (part.exists() and part.stat().st_size >= 300_000):
                assert child.poll() is None, "child ended before it was killed"
                assert time.monotonic() < deadline, "part never grew"
                time.sleep(0.02)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(10)
        assert child.returncode == -signal.SIGKILL
        have = part.stat().st_size
        assert 300_000 <= have < f.size and not dest.exists()
        assert part.read_bytes() == payload[:have]

        f.rate = None  # full speed for the rerun
        r = download_file(
            srv.download_url("film", "big.mp4"),
            dest,
            expected_size=f.size,
            expected_md5=f.md5,
            policy=RetryPolicy(2, 0.01, 0.1, 0),
            timeout=5,
        )
        last = srv.log("/download/film/big.mp4")[-1]
        assert (last.range, last.status) == (f"bytes={have}-", 206)
        assert r.resumed_from == have and r.md5 == f.md5 and r.attempts == 1
        assert dest.read_bytes() == payload
        assert tree(tmp_path) == {"data", "data/film", "data/film/big.mp4"}

"""Chunked rendering is byte-identical however it is run: chunks split over two worker
processes, or a worker SIGKILLed mid-chunk and its chunk redone, give the same mp4 as one
process rendering everything in order."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.render.test_proliferation import sync_members
from worker.render.gridvideo import (
    build_cache,
    join_video,
    load_plan,
    plan_video,
    render_chunk,
    render_mix,
)
from worker.render.proliferation.compose import compose
from worker.render.proliferation.params import ProliferationParams

REPO = Path(__file__).resolve().parents[2]
WORKER = """
import sys, time
from pathlib import Path
from worker.render.gridvideo import load_plan, render_chunk
plan = load_plan(Path(sys.argv[1]))
for i in [int(x) for x in sys.argv[2].split(",")]:
    render_chunk(plan, i)
    print("done", i, flush=True)
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plan_in(tmp: Path, name: str, members, p):
    plan = plan_video(compose(members, p), p, tmp / name, tmp / "cache")
    build_cache(plan)
    render_mix(plan)
    return plan


def spawn(plan_dir: Path, chunks: list[int]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", WORKER, str(plan_dir),
                             ",".join(map(str, chunks))], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_workers_and_kills_do_not_change_the_bytes(tmp_path: Path) -> None:
    members, _ = sync_members(tmp_path)
    p = ProliferationParams(grid=4, grid0=2, beat_ms=600, width=384, height=216, chunk_s=0.5,
                            preset="veryfast", pad_before_ms=300, pad_after_ms=300)
    # one process, in order
    one = plan_in(tmp_path, "one", members, p)
    for i in range(len(one.chunks)):
        render_chunk(one, i)
    join_video(one, tmp_path / "one.mp4")
    n = len(one.chunks)
    assert n >= 6
    # two worker processes at once, chunks interleaved
    two = plan_in(tmp_path, "two", members, p)
    procs = [spawn(two.folder, list(range(k, n, 2))) for k in (0, 1)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()
    join_video(load_plan(two.folder), tmp_path / "two.mp4")
    # a worker killed mid-chunk; whatever it left is redone by another
    killed = plan_in(tmp_path, "killed", members, p)
    proc = spawn(killed.folder, list(range(n)))
    assert proc.stdout.readline().startswith("done 0")
    time.sleep(0.3)  # into a later chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    left = [i for i in range(n) if not killed.segment(i).exists()]
    assert left, "the kill came too late to interrupt anything"
    again = spawn(killed.folder, list(range(n)))
    assert again.wait(timeout=600) == 0, again.stderr.read()
    join_video(load_plan(killed.folder), tmp_path / "killed.mp4")
    assert digest(tmp_path / "one.mp4") == digest(tmp_path / "two.mp4")
    assert digest(tmp_path / "one.mp4") == digest(tmp_path / "killed.mp4")
    assert one.cache == two.cache == killed.cache  # one clip cache served all three

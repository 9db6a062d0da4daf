"""Frame sets on disk: the same arrays as in memory, written in batches, memory bounded."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from core.errors import SamplemillError
from tests.frames.filmgen import Shot, write_film
from worker.frames.fingerprint import FingerprintParams, fingerprint_file
from worker.frames.store import FIELDS, FrameSet, NpyAppender, write_frame_set


def test_npy_appender_grows_a_loadable_array(tmp_path):
    w = NpyAppender(tmp_path / "a.npy", "<u8", (2,))
    for k in range(5):
        w.append(np.full((k, 2), k, np.uint64))
    w.close()
    a = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert a.shape == (10, 2) and a.dtype == np.uint64
    assert a[:, 0].tolist() == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]
    with pytest.raises(ValueError):
        w2 = NpyAppender(tmp_path / "b.npy", "<u8", (2,))
        w2.append(np.zeros((3, 3), np.uint64))


def test_frame_set_equals_in_memory_fingerprints(tmp_path):
    film = write_film(tmp_path / "f.mp4", [Shot(1, 0, 40), Shot(0, 0, 5, kind="black"),
                                           Shot(2, 0, 30)], size=(160, 90))
    params = FingerprintParams(batch=16)
    summary = write_frame_set(film.path, tmp_path / "frames" / "7", params)
    fs = FrameSet(tmp_path / "frames" / "7")
    mem = fingerprint_file(film.path).frames
    assert summary.frames == len(fs) == len(mem) == 75
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(fs, name), getattr(mem, name))
    assert isinstance(fs.phash, np.memmap)
    assert fs.fps == 25.0 and abs(fs.duration - 3.0) < 1e-6
    meta = json.loads((tmp_path / "frames" / "7" / "meta.json").read_text())
    assert meta["info"]["width"] == 160 and meta["params"]["every"] == 1
    assert summary.bytes == sum(p.stat().st_size for p in (tmp_path / "frames" / "7").iterdir())
    # a re-run replaces the set in place and leaves no temporary folders behind
    write_frame_set(film.path, tmp_path / "frames" / "7", FingerprintParams(every=5))
    assert len(FrameSet(tmp_path / "frames" / "7")) == 15
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["7"]


def test_missing_or_foreign_frame_set_is_a_clear_error(tmp_path):
    with pytest.raises(SamplemillError, match="no frame set"):
        FrameSet(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(SamplemillError, match="version 99"):
        FrameSet(tmp_path)


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_film(tmp_path):
    short = write_film(tmp_path / "short.mp4", [Shot(3, 0, 150)], size=(96, 54))
    long = write_film(tmp_path / "long.mp4", [Shot(3, 0, 1200)], size=(96, 54))
    params = FingerprintParams(batch=64)
    write_frame_set(short.path, tmp_path / "warm", params)  # imports and caches first
    p_short = _peak(lambda: write_frame_set(short.path, tmp_path / "s", params))
    p_long = _peak(lambda: write_frame_set(long.path, tmp_path / "l", params))
    # 8x the frames: the in-memory fingerprints alone would add ~650 kB; streaming adds none
    assert p_long - p_short < 200_000, (p_short, p_long)
    print(f"peak traced memory: {p_short} B for 150 frames, {p_long} B for 1200")
    assert len(FrameSet(tmp_path / "l")) == 1200

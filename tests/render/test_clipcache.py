"""The clip-frame cache: each clip's frames taken from the right moments of its film, keyed
by what determines them, built per source file reproducibly, a bad file drawn black."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.mediagen import write_garbage
from tests.render.gridgen import flash_beep_film
from worker.render.clipcache import CacheSpec, ClipCache, resize_matrix
from worker.render.engine.store import level_view, planes


def spec(films: list[str], **change) -> CacheSpec:
    fields = dict(fps=24, sources=tuple(films), source=np.array([0, 0, 1]),
                  vstart_ms=np.array([900.0, 1500.0, 500.0]), vdur_ms=np.array([500.0] * 3),
                  nframes=np.array([12, 12, 12]), w0=np.array([40, 20, 33]),
                  h0=np.array([22, 12, 19]), digest="subset-1")
    fields.update(change)
    return CacheSpec(**fields)


@pytest.fixture
def films(tmp_path: Path) -> list[str]:
    good = flash_beep_film(tmp_path / "good.mp4", [1.0, 2.0], 3.0, fps=24)
    bad = write_garbage(tmp_path / "bad.mp4")
    return [str(good), str(bad)]


def test_frames_come_from_their_moments_and_a_bad_file_is_black(tmp_path, films) -> None:
    cache = ClipCache.create(tmp_path / "cache", spec(films))
    assert cache.missing() == [0, 1]
    r0 = cache.build_source(0)
    r1 = cache.build_source(1)
    assert r0.ok and r0.frames_written == 24 and r0.clips == 2
    assert not r1.ok and "bad.mp4" in r1.error
    assert cache.missing() == [] and list(cache.failed()) == [1]
    data = cache.data()
    lum = [planes(data, cache.layout, 0, 0, k)[0].mean() for k in range(12)]
    # clip 0 starts at 0.9 s: its frame at 1.0 s (24 fps: k = 2 or 3) is the flash
    assert int(np.argmax(lum)) in (2, 3) and max(lum) > 200
    assert sorted(lum)[-2] < 120  # only one frame is white
    lum1 = [planes(data, cache.layout, 1, 0, k)[0].mean() for k in range(12)]
    assert max(lum1) < 120  # 1.5-2.0 s holds no flash (the one at 2.0 is past its end)
    for plane, black in zip(level_view(data, cache.layout, 2, 0), (16, 128, 128), strict=True):
        assert (plane == black).all()


def test_levels_are_halved_copies(tmp_path, films) -> None:
    cache = ClipCache.create(tmp_path / "cache", spec(films))
    cache.build_source(0)
    data = cache.data()
    y0 = planes(data, cache.layout, 0, 0, 3)[0].astype(float)
    y1 = planes(data, cache.layout, 0, 1, 3)[0].astype(float)
    assert y1.shape == (11, 20)
    assert abs(y0.mean() - y1.mean()) < 2.0


def test_building_again_gives_the_same_bytes(tmp_path, films) -> None:
    cache = ClipCache.create(tmp_path / "cache", spec(films))
    cache.build_source(0)
    first = hashlib.sha256(np.asarray(cache.data()).tobytes()).hexdigest()
    cache.build_source(0)
    again = ClipCache.create(tmp_path / "cache", spec(films))
    assert again.folder == cache.folder
    assert hashlib.sha256(np.asarray(again.data()).tobytes()).hexdigest() == first


def test_the_key_follows_everything_that_decides_the_bytes(films) -> None:
    base = spec(films).key()
    assert spec(films).key() == base
    assert spec(films, w0=np.array([40, 20, 34])).key() != base
    assert spec(films, vstart_ms=np.array([901.0, 1500.0, 500.0])).key() != base
    assert spec(films, fps=25).key() != base
    assert spec(films, digest="subset-2").key() != base


def test_resize_matrices_average_when_shrinking() -> None:
    m = resize_matrix(8, 4, 0.0, 8.0)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(m @ np.arange(8.0), [0.5, 2.5, 4.5, 6.5])
    crop = resize_matrix(10, 2, 2.0, 6.0)  # the middle six pixels, in two
    np.testing.assert_allclose(crop @ np.arange(10.0), [3.0, 6.0])
    up = resize_matrix(2, 4, 0.0, 2.0)
    np.testing.assert_allclose(up @ np.array([0.0, 4.0]), [0.0, 1.0, 3.0, 4.0])

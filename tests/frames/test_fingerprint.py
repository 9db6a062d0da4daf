"""Per-frame fingerprints against independent references computed from decoded RGB frames."""

from __future__ import annotations

import av
import numpy as np
import pytest
import scipy.fft

from tests.frames.filmgen import Shot, write_film
from worker.frames.fingerprint import (
    STATS,
    FingerprintParams,
    area_matrix,
    fingerprint_file,
    pack_bits,
)
from worker.frames.hashindex import hamming


def _rgb_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _block_mean(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img.reshape(rows, h // rows, cols, w // cols, *img.shape[2:]).mean(axis=(1, 3))


def _reference_hashes(rgb: np.ndarray) -> tuple[int, int]:
    """imagehash's pHash and dHash, from full-resolution RGB (frame size a multiple of 32)."""
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    g32 = _block_mean(luma, 32, 32)
    dct = scipy.fft.dct(scipy.fft.dct(g32, axis=0), axis=1)[:8, :8]
    ph = pack_bits((dct > np.median(dct)).reshape(1, 64))[0]
    g89 = area_matrix(8, luma.shape[0]) @ luma @ area_matrix(9, luma.shape[1]).T
    dh = pack_bits((g89[:, 1:] > g89[:, :-1]).reshape(1, 64))[0]
    return int(ph), int(dh)


@pytest.fixture(scope="module")
def small_film(tmp_path_factory):
    root = tmp_path_factory.mktemp("fp")
    shots = [Shot(1, 0, 30), Shot(2, 0, 30), Shot(0, 0, 10, kind="black"), Shot(3, 0, 20)]
    return write_film(root / "small.mp4", shots, size=(256, 160), crf=18)


def test_hashes_match_imagehash_definitions_on_decoded_frames(small_film):
    fp = fingerprint_file(small_film.path)
    rgb = _rgb_frames(small_film.path)
    assert len(fp.frames) == len(rgb) == small_film.frames
    ph_d, dh_d = [], []
    for k in range(len(rgb)):
        if fp.frames.stats[k, 2] < 4:  # black frames: hash bits are noise by definition
            continue
        ph, dh = _reference_hashes(rgb[k])
        ph_d.append(int(hamming(np.uint64(ph), fp.frames.phash[k])))
        dh_d.append(int(hamming(np.uint64(dh), fp.frames.dhash[k])))
    # same definitions on luma straight from the planes: only a few bits near the median flip
    assert np.mean(ph_d) <= 1.5 and max(ph_d) <= 6, ph_d
    assert np.mean(dh_d) <= 1.5 and max(dh_d) <= 6, dh_d


def test_thumbnails_and_colour_match_downscaled_frames(small_film):
    fp = fingerprint_file(small_film.path).frames
    rgb = _rgb_frames(small_film.path)
    rows, cols = area_matrix(9, 160).astype(np.float64), area_matrix(16, 256).astype(np.float64)
    for k in (0, 15, 45, 65):
        img = rgb[k].astype(np.float64)
        ref = np.stack([rows @ img[:, :, c] @ cols.T for c in range(3)], axis=2)
        err = np.abs(fp.thumb_color[k].astype(float) - ref).mean()
        assert err < 4.0, (k, err)
        grey = img @ np.array([0.299, 0.587, 0.114])
        gerr = np.abs(fp.thumb_gray[k].astype(float) - rows @ grey @ cols.T).mean()
        assert gerr < 4.0, (k, gerr)
        assert np.abs(fp.color[k].astype(float) - img.reshape(-1, 3).mean(axis=0)).max() < 4
        assert abs(fp.stats[k, 0] - grey.mean()) < 3.0
        assert abs(fp.stats[k, 1] - grey.std()) < 0.1 * grey.std() + 1.5


def test_black_frames_have_no_contrast_and_scenes_do(small_film):
    fp = fingerprint_file(small_film.path).frames
    assert STATS == ("luma_mean", "luma_std", "contrast")
    black = fp.stats[60:70]
    assert (black[:, 2] < 1.0).all() and (black[:, 0] < 6).all()
    assert (fp.stats[:60, 2] > 8).all()


def test_every_and_rate_pick_frames_and_times(small_film):
    full = fingerprint_file(small_film.path).frames
    third = fingerprint_file(small_film.path, FingerprintParams(every=3)).frames
    assert third.index.tolist() == list(range(0, small_film.frames, 3))
    np.testing.assert_array_equal(third.phash, full.phash[::3])
    np.testing.assert_allclose(full.t, np.arange(small_film.frames) / 25, atol=1e-6)
    five = fingerprint_file(small_film.path, FingerprintParams(rate=5.0)).frames
    assert five.index.tolist() == list(range(0, small_film.frames, 5))


def test_results_do_not_depend_on_threads_or_batch(small_film):
    a = fingerprint_file(small_film.path, FingerprintParams(threads=1, batch=7)).frames
    b = fingerprint_file(small_film.path, FingerprintParams(threads=2, batch=512)).frames
    for name in ("phash", "dhash", "thumb_color", "stats", "t"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_deblocking_skip_changes_hashes_little(small_film):
    fast = fingerprint_file(small_film.path, FingerprintParams(fast=True)).frames
    exact = fingerprint_file(small_film.path, FingerprintParams(fast=False)).frames
    d = hamming(fast.phash, exact.phash)
    assert d.mean() <= 1.0, d


def test_tiny_picture_smaller_than_the_grid(tmp_path):
    film = write_film(tmp_path / "tiny.mp4", [Shot(5, 0, 12)], size=(24, 16))
    fp = fingerprint_file(film.path).frames
    assert len(fp) == 12
    assert np.isfinite(fp.stats).all() and fp.stats[:, 2].min() > 1
    with av.open(str(film.path)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert np.abs(fp.color[0] - rgb.reshape(-1, 3).mean(axis=0)).max() < 6
    small = write_film(tmp_path / "small.mp4", [Shot(5, 0, 3)], size=(96, 54))  # chroma < 32
    fp = fingerprint_file(small.path).frames
    with av.open(str(small.path)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert np.abs(fp.color[0] - rgb.reshape(-1, 3).mean(axis=0)).max() < 6

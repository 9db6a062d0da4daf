"""Frame maps: frames of the same scene are neighbours; JSON in the seed's shape; sprites and
a picture; the seed's colour-space bugs are fixed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from core.errors import ConfigError
from worker.frames.fingerprint import fingerprint_file
from worker.frames.framemap import (
    FrameMapParams,
    FrameSample,
    compute_layouts,
    fit_square,
    from_frames,
    gray_features,
    hsl_features,
    knn_label_score,
    rate_rows,
    sample_video,
    write_map,
)

FAST = FrameMapParams(methods=("tsne", "mds"), iterations=300, thumb_width=48,
                      picture_size=512)


@pytest.fixture(scope="module")
def scene_sample(scenes_film):
    return sample_video(scenes_film.path, "scenes.mp4", rate=5.0, thumb_width=48)


@pytest.fixture(scope="module")
def scene_layouts(scene_sample):
    """The FAST layouts of the scenes sample, computed once for the tests that read them."""
    return compute_layouts(scene_sample, FAST)


def _labels(film, sample):
    return np.array([film.shot_at(round(t * 25)).scene for t in sample.t])


def test_frames_of_a_scene_are_neighbours(scenes_film, scene_sample, scene_layouts):
    layouts = scene_layouts
    assert set(layouts) == {"tsne_gray", "mds_gray", "tsne_hsl", "mds_hsl"}
    labels = _labels(scenes_film, scene_sample)
    scores = {name: knn_label_score(xy, labels, k=10) for name, xy in layouts.items()}
    print("kNN label score (k=10):", {k: round(v, 3) for k, v in scores.items()})
    assert scores["tsne_gray"] >= 0.9 and scores["tsne_hsl"] >= 0.9
    assert scores["mds_gray"] >= 0.8 and scores["mds_hsl"] >= 0.8
    shuffled = np.random.default_rng(0).permutation(labels)
    assert knn_label_score(layouts["tsne_gray"], shuffled) < 0.4  # the score can fail


def test_umap_layout_when_installed(scenes_film, scene_sample):
    pytest.importorskip("umap")
    layouts = compute_layouts(scene_sample, FrameMapParams(methods=("umap",), spaces=("gray",)))
    score = knn_label_score(layouts["umap_gray"], _labels(scenes_film, scene_sample))
    print(f"kNN label score (k=10) umap_gray: {score:.3f}")
    assert score >= 0.85


def test_written_map_has_the_seed_shape_sprites_and_picture(scene_sample, scene_layouts,
                                                            tmp_path):
    layouts = scene_layouts
    files = write_map(tmp_path, scene_sample, layouts, FAST, name="scenes")
    items = json.loads(files.json.read_text())
    assert len(items) == len(scene_sample) == 240  # 48 s at 5 frames per second
    first = items[0]
    assert set(first) == {"src", "file", "t", "tsne_gray", "mds_gray", "tsne_hsl", "mds_hsl"}
    assert first["file"] == "scenes.mp4" and first["t"] == 0.0
    assert all(0.1 - 1e-9 <= v <= 0.9 + 1e-9 for it in items for v in it["tsne_gray"])
    sheet_name, frag = items[7]["src"].split("#xywh=")
    x, y, w, h = map(int, frag.split(","))
    sheet = np.asarray(Image.open(tmp_path / sheet_name).convert("RGB"), np.float32)
    crop = sheet[y : y + h, x : x + w]
    assert (w, h) == (48, 27)
    assert np.abs(crop - scene_sample.images[7]).mean() < 6  # JPEG, but the same picture
    pic = Image.open(files.picture)
    assert pic.size == (512, 512)
    arr = np.asarray(pic.convert("RGB"))
    assert (arr != arr[0, 0]).any(axis=2).mean() > 0.05  # frames drawn on the background


def test_stored_fingerprints_give_the_same_sample(scenes_film, scene_sample):
    fp = fingerprint_file(scenes_film.path)
    rows = rate_rows(fp.frames.t, 5.0, 25.0)
    stored = from_frames("scenes.mp4", fp.frames, rows)
    np.testing.assert_allclose(stored.t, scene_sample.t)
    np.testing.assert_array_equal(stored.gray, scene_sample.gray)
    assert stored.images is None


def test_gray_features_do_not_wrap_around():
    a = np.full((1, 9, 16), 10, np.uint8)
    b = np.full((1, 9, 16), 250, np.uint8)
    d = np.abs(gray_features(a) - gray_features(b)).mean()
    assert abs(d - 240 / 255) < 1e-6  # uint8 subtraction would give 16/255


def test_hsl_hue_is_circular_and_scales_match():
    def one(rgb):
        return hsl_features(np.full((1, 9, 16, 3), rgb, np.uint8))[0, :3]

    red_a, red_b, green = one((255, 0, 8)), one((255, 8, 0)), one((0, 255, 0))
    assert np.linalg.norm(red_a - red_b) < 0.1  # hue 0.995 and 0.005 are neighbours
    assert np.linalg.norm(red_a - green) > 1.0
    grey = one((128, 128, 128))
    assert abs(grey[0] - 128 / 255) < 1e-6 and abs(grey[1]) < 1e-6 and abs(grey[2]) < 1e-6
    white, black = one((255, 255, 255)), one((0, 0, 0))
    assert white[0] == pytest.approx(1.0) and black[0] == pytest.approx(0.0)
    full = one((255, 0, 0))
    assert np.hypot(full[1], full[2]) == pytest.approx(1.0)  # saturation on 0-1, not 0-255


def test_fit_square_keeps_the_aspect_ratio():
    y = np.array([[0.0, 0.0], [10.0, 2.0], [5.0, 1.0]])
    s = fit_square(y)
    assert s[:, 0].min() == pytest.approx(0.1) and s[:, 0].max() == pytest.approx(0.9)
    assert (s[1, 1] - s[0, 1]) / (s[1, 0] - s[0, 0]) == pytest.approx(0.2)


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="methods"):
        FrameMapParams(methods=("pca",))
    with pytest.raises(ConfigError, match="spaces"):
        FrameMapParams(spaces=("rgb",))


def test_spaces_at_once_give_the_same_map_as_in_turn():
    """2,000 frames (at the size where the spaces' t-SNEs run in processes, with Annoy
    neighbours): the same layouts as one space after another, and scenes stay together."""
    rng = np.random.default_rng(3)
    label = np.repeat(np.arange(10), 200)
    base = rng.uniform(0, 255, (10, 9, 16, 3))
    color = np.clip(base[label] + rng.normal(0, 12, (len(label), 9, 16, 3)), 0, 255)
    color = color.astype(np.uint8)
    gray = (color.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    sample = FrameSample(["s"], np.zeros(len(label), np.int64),
                         np.arange(len(label), dtype=float), gray, color)
    quick = FrameMapParams(methods=("tsne",), iterations=90, thumb_width=16)
    at_once = compute_layouts(sample, quick)
    in_turn = compute_layouts(sample, replace(quick, parallel_spaces=False))
    assert set(at_once) == {"tsne_gray", "tsne_hsl"}
    for name, xy in at_once.items():
        np.testing.assert_allclose(xy, in_turn[name], atol=1e-6)
        assert knn_label_score(xy, label) >= 0.95

"""Grid assignment: one-to-one, empty cells, determinism, quality vs rasterfairy and optimum."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError, SamplemillError
from worker.layout.cells import cell_centres, occupancy
from worker.layout.grid import assign_grid, fit_to_grid, grid_shape
from worker.layout.quality import assignment_cost, grid_neighbour_distance
from worker.layout.tsne import embed

METHODS = ["assignment", "rasterfairy"]


def clustered_map(n: int, k: int = 12, d: int = 39, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return clustered feature vectors and their 2-D t-SNE map in [0, 1]²."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, (k, d))
    x = (centres[rng.integers(0, k, n)] + rng.normal(0.0, 0.6, (n, d))).astype(np.float32)
    return x, embed(x, seed=seed, n_iter=500)


@pytest.fixture(scope="module")
def map1024() -> tuple[np.ndarray, np.ndarray]:
    """1,024 clustered vectors and their t-SNE map (a 32×32 grid's worth)."""
    return clustered_map(1024)


def assert_one_to_one(cells: np.ndarray, width: int, height: int) -> None:
    """Cells are ints inside the grid and no two samples share one."""
    assert cells.dtype == np.int64 and cells.shape[1] == 2
    assert (cells[:, 0] >= 0).all() and (cells[:, 0] < width).all()
    assert (cells[:, 1] >= 0).all() and (cells[:, 1] < height).all()
    assert len(np.unique(cells, axis=0)) == len(cells)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("width", "height"), [(40, 40), (48, 21), (7, 9), (1, 30)])
def test_full_grid_fills_every_cell(method: str, width: int, height: int) -> None:
    pts = np.random.default_rng(width * height).random((width * height, 2))
    cells = assign_grid(pts, width, height, method=method)  # type: ignore[arg-type]
    assert_one_to_one(cells, width, height)
    assert (occupancy(cells, width, height) >= 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_fewer_points_leave_empty_cells(method: str, map1024: tuple) -> None:
    _, pts = map1024
    cells = assign_grid(pts[:700], 30, 30, method=method)  # type: ignore[arg-type]
    assert_one_to_one(cells, 30, 30)
    assert (occupancy(cells, 30, 30) < 0).sum() == 900 - 700


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_result(method: str, map1024: tuple) -> None:
    _, pts = map1024
    a = assign_grid(pts, 32, 32, method=method, seed=4)  # type: ignore[arg-type]
    b = assign_grid(pts, 32, 32, method=method, seed=4)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", METHODS)
def test_points_on_cell_centres_stay_put(method: str) -> None:
    w, h = 24, 16
    centres = cell_centres(w, h)
    perm = np.random.default_rng(0).permutation(w * h)
    cells = assign_grid(centres[perm], w, h, method=method)  # type: ignore[arg-type]
    expect = np.stack([perm % w, perm // w], axis=1)
    np.testing.assert_array_equal(cells, expect)


def test_assignment_beats_rasterfairy_and_nears_optimum(map1024: tuple) -> None:
    x, pts = map1024
    rf = assign_grid(pts, 32, 32, method="rasterfairy")
    asg = assign_grid(pts, 32, 32, method="assignment")
    opt = assign_grid(pts, 32, 32, method="exact")
    assert grid_neighbour_distance(x, asg) < grid_neighbour_distance(x, rf)
    c_rf, c_asg, c_opt = (assignment_cost(pts, c, 32, 32) for c in (rf, asg, opt))
    assert c_opt <= c_asg <= 1.01 * c_opt < c_rf


def test_large_grid_is_one_to_one_near_optimal_and_beats_rasterfairy() -> None:
    rng = np.random.default_rng(5)
    blobs = rng.normal(0.0, 0.08, (1600, 2)) + rng.random((6, 2))[rng.integers(0, 6, 1600)]
    pts = (blobs - blobs.min(0)) / np.ptp(blobs, axis=0)
    asg = assign_grid(pts, 40, 40)
    assert_one_to_one(asg, 40, 40)
    rf = assign_grid(pts, 40, 40, method="rasterfairy")
    opt = assign_grid(pts, 40, 40, method="exact")
    c_rf, c_asg, c_opt = (assignment_cost(pts, c, 40, 40) for c in (rf, asg, opt))
    assert c_asg <= 1.02 * c_opt and c_asg < 0.97 * c_rf


def test_bad_input_is_a_clear_error() -> None:
    pts = np.random.default_rng(0).random((10, 2))
    with pytest.raises(SamplemillError, match="do not fit"):
        assign_grid(pts, 3, 3)
    with pytest.raises(SamplemillError, match=r"\[0, 1\]"):
        assign_grid(pts * 2, 4, 4)
    bad = pts.copy()
    bad[3, 1] = np.nan
    with pytest.raises(SamplemillError, match="NaN"):
        assign_grid(bad, 4, 4)
    with pytest.raises(ConfigError):
        assign_grid(pts, 4, 4, method="spiral")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        assign_grid(pts, 0, 4)
    assert assign_grid(np.zeros((0, 2)), 4, 4).shape == (0, 2)


def test_grid_shape_and_fit_to_grid() -> None:
    assert grid_shape(16384) == (128, 128)
    w, h = grid_shape(1000, aspect=16 / 9)
    assert w * h >= 1000 and abs(w / h - 16 / 9) < 0.1
    scores = np.array([5.0, np.nan, 1.0, 9.0, 3.0])
    np.testing.assert_array_equal(fit_to_grid(scores, 2, 1), [0, 3])
    np.testing.assert_array_equal(fit_to_grid(scores, 2, 1, descending=False), [2, 4])
    np.testing.assert_array_equal(fit_to_grid(scores, 3, 3), np.arange(5))

"""Layout quality metrics on hand-made grids, and trustworthiness against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness

from worker.layout.cells import cell_centres
from worker.layout.quality import (
    assignment_cost,
    grid_knn_preservation,
    grid_neighbour_distance,
    trustworthiness,
)


def test_neighbour_distance_by_hand() -> None:
    vectors = np.array([[0.0], [1.0], [3.0], [10.0]])
    cells = np.array([[0, 0], [1, 0], [0, 1], [5, 5]])  # sample 3 has no occupied neighbour
    # pairs: (0,1) across = 1, (0,2) down = 3
    assert grid_neighbour_distance(vectors, cells) == pytest.approx(2.0)
    assert grid_neighbour_distance(vectors[:1], cells[:1]) == 0.0


def test_knn_preservation_perfect_and_scrambled() -> None:
    w = h = 20
    pts = cell_centres(w, h)
    cells = np.stack([np.arange(w * h) % w, np.arange(w * h) // w], axis=1)
    assert grid_knn_preservation(pts, cells, k=8, radius=2) == 1.0
    scrambled = cells[np.random.default_rng(0).permutation(w * h)]
    assert grid_knn_preservation(pts, scrambled, k=10, radius=2) < 0.1


def test_assignment_cost() -> None:
    pts = cell_centres(4, 3)
    cells = np.stack([np.arange(12) % 4, np.arange(12) // 4], axis=1)
    assert assignment_cost(pts, cells, 4, 3) == pytest.approx(0.0)
    assert assignment_cost(pts + np.array([0.1, 0.0]), cells, 4, 3) == pytest.approx(0.01)


def test_trustworthiness_matches_sklearn_and_samples_well() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 12))
    y = x[:, :2] + rng.normal(scale=0.4, size=(800, 2))
    ref = sk_trustworthiness(x, y, n_neighbors=10)
    assert trustworthiness(x, y, k=10) == pytest.approx(ref, abs=1e-12)
    assert trustworthiness(x, y, k=10, sample=300, seed=2) == pytest.approx(ref, abs=0.02)
    with pytest.raises(ValueError):
        trustworthiness(x[:10], y[:10], k=10)

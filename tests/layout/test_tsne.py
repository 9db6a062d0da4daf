"""t-SNE embedding: 1-D order keeps clusters together, 2-D maps are trustworthy, edge cases."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from core.errors import ConfigError, SamplemillError
from worker.layout.quality import trustworthiness
from worker.layout.tsne import embed, order


def clustered(n_per: int, k: int, d: int = 39, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return k well-separated Gaussian clusters of n_per float32 vectors each, and labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (k, d))
    labels = np.repeat(np.arange(k), n_per)
    x = centres[labels] + rng.normal(0.0, 0.5, (k * n_per, d))
    perm = rng.permutation(len(x))
    return x[perm].astype(np.float32), labels[perm]


def test_1d_order_keeps_each_cluster_in_one_run() -> None:
    x, labels = clustered(40, 8)
    seq = labels[order(x, seed=1)]
    breaks = int((seq[1:] != seq[:-1]).sum())
    assert breaks <= 8 - 1 + 2  # 7 boundaries between 8 runs, at most 2 strays


def test_2d_map_is_trustworthy_and_normalised() -> None:
    x, _ = clustered(60, 10)
    y = embed(x, seed=0)
    assert y.shape == (600, 2) and y.dtype == np.float64
    assert y.min(axis=0).tolist() == [0.0, 0.0] and y.max(axis=0).tolist() == [1.0, 1.0]
    assert trustworthiness(x, y, k=10) > 0.95


def test_same_seed_same_result() -> None:
    x, _ = clustered(30, 5, seed=3)
    np.testing.assert_array_equal(embed(x, seed=7), embed(x, seed=7))
    np.testing.assert_array_equal(embed(x, components=1, seed=7), embed(x, components=1, seed=7))


def test_three_components() -> None:
    x, _ = clustered(20, 4)
    assert embed(x, components=3, n_iter=300).shape == (80, 3)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 12])
def test_tiny_inputs(n: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, 6)).astype(np.float32)
    for c in (1, 2):
        y = embed(x, components=c, perplexity=30)
        assert y.shape == (n, c)
        assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()


def test_constant_and_duplicate_vectors() -> None:
    y = embed(np.ones((20, 39), dtype=np.float32))
    assert y.shape == (20, 2) and np.isfinite(y).all()
    assert len(np.unique(y, axis=0)) == 20  # still distinct places for a grid or an order
    dup = np.repeat(np.random.default_rng(0).normal(size=(6, 39)), 10, axis=0)
    yd = embed(dup.astype(np.float32))
    assert np.isfinite(yd).all()
    assert trustworthiness(dup, yd, k=5) > 0.9  # copies stay together
    assert order(dup.astype(np.float32)).shape == (60,)


def test_nan_is_a_clear_error() -> None:
    x = np.zeros((10, 4), dtype=np.float32)
    x[7, 2] = np.nan
    with pytest.raises(SamplemillError, match="row 7"):
        embed(x)


def test_bad_arguments() -> None:
    x = np.zeros((10, 4), dtype=np.float32)
    with pytest.raises(ConfigError):
        embed(x, components=4)
    with pytest.raises(ConfigError):
        embed(x, method="pca")  # type: ignore[arg-type]
    with pytest.raises(SamplemillError):
        embed(np.zeros((3, 4, 5)))


def test_umap_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` raise ImportError
    x, _ = clustered(10, 3)
    with pytest.raises(ConfigError, match="umap-learn"):
        embed(x, method="umap")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:n_jobs value:UserWarning")
def test_umap_when_installed() -> None:
    pytest.importorskip("umap")
    x, _ = clustered(50, 4)
    y = embed(x, method="umap", seed=0)
    assert y.shape == (200, 2) and np.isfinite(y).all()
    assert trustworthiness(x, y, k=10) > 0.9

"""t-SNE (openTSNE) or UMAP embedding of sample vectors into 1-3 axes in [0, 1]; 1-D is an order."""

from __future__ import annotations

from typing import Literal

import numpy as np

from core.errors import ConfigError, SamplemillError
from worker.layout.params import LayoutParams

Method = Literal["tsne", "umap"]
FFT_MIN_N = 4000  # from here on, FFT-interpolated gradients beat Barnes-Hut (1-D and 2-D only)
SMALL_N = 2000  # below this, t-SNE runs single-threaded (faster, and robust on busy machines)


def _check_vectors(vectors: np.ndarray) -> np.ndarray:
    """Return vectors as a finite (n, d) float32 array, or raise a clear error."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1 and x.size == 0:
        x = x.reshape(0, 1)
    if x.ndim != 2:
        raise SamplemillError(f"vectors must be a 2-D (n, d) array, got shape {x.shape}")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise SamplemillError(
            f"vectors contain NaN or inf in {rows.size} row(s), first at row {int(rows[0])}"
        )
    return x


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise each column to mean 0, std 1; constant columns become 0 (no division by 0)."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return (x - x.mean(axis=0)) / std


def normalise_unit(y: np.ndarray) -> np.ndarray:
    """Scale each axis to [0, 1]; a constant axis becomes 0.5."""
    y = np.asarray(y, dtype=np.float64)
    lo = y.min(axis=0) if len(y) else np.zeros(y.shape[1])
    span = (y.max(axis=0) - lo) if len(y) else np.ones(y.shape[1])
    out = np.full_like(y, 0.5)
    ok = span > 0
    out[:, ok] = (y[:, ok] - lo[ok]) / span[ok]
    return out


def _trivial(n: int, components: int) -> np.ndarray:
    """Coordinates for inputs too small or too degenerate to embed: spread by index on each axis."""
    if n == 0:
        return np.zeros((0, components))
    if n == 1:
        return np.full((1, components), 0.5)
    if components == 1:
        return np.linspace(0.0, 1.0, n)[:, None]
    side = int(np.ceil(n ** (1.0 / components)))
    idx = np.arange(n)
    cols = [(idx // side**a) % side for a in range(components)]
    return normalise_unit(np.stack(cols, axis=1).astype(np.float64))


def _tsne(
    x: np.ndarray,
    components: int,
    perplexity: float,
    learning_rate: float | str,
    n_iter: int,
    seed: int,
    threads: int,
) -> np.ndarray:
    """Run openTSNE with PCA initialisation; early exaggeration takes a third of n_iter (≤ 250)."""
    from openTSNE import TSNE

    n = x.shape[0]
    perplexity = float(min(perplexity, (n - 1) / 3.0))
    early = min(250, n_iter // 3)
    tsne = TSNE(
        n_components=components,
        perplexity=perplexity,
        learning_rate=learning_rate,
        early_exaggeration_iter=early,
        n_iter=max(n_iter - early, 1),
        initialization="pca",
        negative_gradient_method="fft" if components <= 2 and n >= FFT_MIN_N else "bh",
        n_jobs=threads if n >= SMALL_N else 1,  # thread start-up dominates small maps
        random_state=seed,
        verbose=False,
    )
    return np.asarray(tsne.fit(x), dtype=np.float64)


def _umap(x: np.ndarray, components: int, seed: int) -> np.ndarray:
    """Run UMAP when the optional umap-learn extra is installed."""
    try:
        import umap
    except ImportError as exc:  # optional extra
        raise ConfigError(
            "layout method 'umap' needs the optional extra umap-learn "
            "(pip install 'samplemill[umap]'); use method='tsne' otherwise"
        ) from exc
    n = x.shape[0]
    reducer = umap.UMAP(
        n_components=components,
        n_neighbors=max(2, min(15, n - 1)),
        random_state=seed,
        init="spectral" if n > components + 1 else "random",
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


_DEFAULT = LayoutParams()  # the [[layout]] defaults, also for callers without a job


def embed(
    vectors: np.ndarray,
    *,
    components: int = 2,
    method: Method = _DEFAULT.method,
    perplexity: float = _DEFAULT.perplexity,
    learning_rate: float | Literal["auto"] = _DEFAULT.learning_rate,
    n_iter: int = _DEFAULT.iterations,
    seed: int = _DEFAULT.seed,
    threads: int = _DEFAULT.threads,
    standardize: bool = True,
) -> np.ndarray:
    """Embed (n, d) vectors into (n, components) float64 coordinates in [0, 1] per axis."""
    if components not in (1, 2, 3):
        raise ConfigError(f"layout components must be 1, 2 or 3, got {components}")
    if method not in ("tsne", "umap"):
        raise ConfigError(f"layout method must be 'tsne' or 'umap', got {method!r}")
    if perplexity <= 0 or n_iter < 1 or threads < 1:
        raise ConfigError("layout perplexity, n_iter and threads must be positive")
    x = _check_vectors(vectors)
    n = x.shape[0]
    if n < 3:
        return _trivial(n, components)
    xs = zscore(x) if standardize else x.astype(np.float64)
    if np.ptp(xs, axis=0).max(initial=0.0) == 0.0:  # all rows identical: nothing to separate
        return _trivial(n, components)
    if np.unique(xs, axis=0).shape[0] < n:  # exact duplicates: a tiny seeded jitter breaks ties
        scale = float(np.abs(xs).max()) or 1.0
        xs = xs + np.random.default_rng(seed).normal(0.0, 1e-6 * scale, xs.shape)
    if method == "umap":
        y = _umap(xs.astype(np.float32), components, seed)
    else:
        y = _tsne(xs, components, perplexity, learning_rate, n_iter, seed, threads)
    if not np.isfinite(y).all():
        raise SamplemillError("embedding diverged (non-finite coordinates); try fewer iterations")
    return normalise_unit(y)


def order(vectors: np.ndarray, **kwargs: object) -> np.ndarray:
    """Return sample indices sorted along a 1-D embedding (the 'tsne' sort order)."""
    y = embed(vectors, components=1, **kwargs)  # type: ignore[arg-type]
    return np.argsort(y[:, 0], kind="stable")

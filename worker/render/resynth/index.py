"""A nearest-neighbour index over the frame features of many files, built once and reused.

Vectors of every file are stacked in file order; a global row id maps back to (file, frame)
through the files' offsets. Backends: `faiss-ivf` (inverted lists over k-means cells, exact
distances inside the cells probed), `faiss-hnsw`, `hnswlib` and `exact` (brute force, the
reference for recall). The default is the one bench/resynth.py measured best; pynndescent was
measured too and dropped (1 h of frames: 233 s to build with its JIT, recall@1 0.93).
Distances are squared Euclidean throughout. Vectors are stored centred (the mean subtracted,
and from queries too): distances do not change, but float32 loses far less to cancellation
than on raw dB values around -80 (recall@1 against float64 truth rose from 0.72 to 0.95).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import ConfigError, MediaError

Backend = Literal["faiss-ivf", "faiss-hnsw", "hnswlib", "exact"]
BACKENDS: tuple[str, ...] = ("faiss-ivf", "faiss-hnsw", "hnswlib", "exact")
DEFAULT_BACKEND: Backend = "faiss-ivf"
TRAIN_PER_CELL = 64  # k-means training vectors per IVF cell (faiss warns under 39)
MAX_CELLS = 4096  # beyond this, training (cells × 64 vectors × cells) outgrows the search gain
KMEANS_ITERATIONS = 10  # cells need only be roughly balanced; faiss's default is 25


@dataclass
class FrameIndex:
    """Stacked vectors, per-file offsets and a search structure over them."""

    vectors: np.ndarray  # (N, d) float32, possibly memory-mapped
    offsets: np.ndarray  # (files + 1,) int64: file f owns rows offsets[f]:offsets[f+1]
    backend: str
    files: list[str] = field(default_factory=list)  # what each file is (path or key)
    nprobe: int = 32
    ef: int = 64
    build_seconds: float = 0.0
    center: np.ndarray | None = None  # subtracted from every vector and query
    _ann: object = None

    def centred(self, queries: np.ndarray) -> np.ndarray:
        """Queries moved like the stored vectors."""
        q = np.asarray(queries, np.float32)
        return np.ascontiguousarray(q - self.center if self.center is not None else q)

    @property
    def size(self) -> int:
        """Number of frames indexed."""
        return int(self.vectors.shape[0])

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file number, frame) of global rows."""
        rows = np.asarray(rows, np.int64)
        f = np.searchsorted(self.offsets, rows, side="right") - 1
        return f, rows - self.offsets[f]

    def successor(self, rows: np.ndarray) -> np.ndarray:
        """The next frame of the same file for each row, or -1 at a file's last frame."""
        rows = np.asarray(rows, np.int64)
        f, _ = self.locate(rows)
        nxt = rows + 1
        return np.where(nxt < self.offsets[f + 1], nxt, -1)

    def distances(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Squared distances of queries[i] to vectors[rows[i, j]] (rows -1 give inf)."""
        ok = rows >= 0
        out = np.full(rows.shape, np.inf, np.float32)
        v = self.vectors[np.where(ok, rows, 0)]
        d = ((v - self.centred(queries)[:, None, :]) ** 2).sum(axis=-1)
        out[ok] = d[ok]
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows of each query and their squared distances, nearest first."""
        q = self.centred(queries)
        k = min(k, self.size)
        if self.backend in ("faiss-ivf", "faiss-hnsw", "exact"):
            import faiss

            if self.backend == "faiss-ivf":
                faiss.extract_index_ivf(self._ann).nprobe = self.nprobe
            elif self.backend == "faiss-hnsw":
                self._ann.hnsw.efSearch = max(self.ef, k)
            d, i = self._ann.search(q, k)
        else:
            self._ann.set_ef(max(self.ef, k))
            i, d = self._ann.knn_query(q, k=k)
        i = np.asarray(i, np.int64)
        d = np.where(i >= 0, d, np.inf).astype(np.float32)
        return d, i

    def save(self, folder: Path) -> Path:
        """Write vectors, offsets, metadata and the search structure into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", np.ascontiguousarray(self.vectors, np.float32))
        np.save(folder / "offsets.npy", self.offsets)
        np.save(folder / "center.npy", self.center if self.center is not None
                else np.zeros(self.vectors.shape[1], np.float32))
        if self.backend in ("faiss-ivf", "faiss-hnsw"):
            import faiss

            faiss.write_index(self._ann, str(folder / "ann.faiss"))
        elif self.backend == "hnswlib":
            self._ann.save_index(str(folder / "ann.hnsw"))
        meta = {"backend": self.backend, "files": self.files, "nprobe": self.nprobe,
                "ef": self.ef, "build_seconds": self.build_seconds, "size": self.size,
                "dim": int(self.vectors.shape[1])}
        (folder / "index.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load(cls, folder: Path) -> FrameIndex:
        """Read an index written by save (vectors memory-mapped)."""
        try:
            meta = json.loads((folder / "index.json").read_text())
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            offsets = np.load(folder / "offsets.npy")
            center = (np.load(folder / "center.npy") if (folder / "center.npy").exists()
                      else None)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot read frame index {folder}: {exc}") from exc
        index = cls(vectors, offsets, meta["backend"], meta["files"], meta["nprobe"],
                    meta["ef"], meta.get("build_seconds", 0.0), center)
        backend = meta["backend"]
        if backend in ("faiss-ivf", "faiss-hnsw"):
            import faiss

            index._ann = faiss.read_index(str(folder / "ann.faiss"))
        elif backend == "hnswlib":
            ann = _need("hnswlib").Index(space="l2", dim=int(meta["dim"]))
            ann.load_index(str(folder / "ann.hnsw"), max_elements=int(meta["size"]))
            index._ann = ann
        else:
            index._ann = _exact(np.ascontiguousarray(vectors, np.float32))
        return index


def _need(module: str):  # type: ignore[no-untyped-def]
    """Import an optional backend's module, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"index backend {module} is not installed: pip install "
                          "'samplemill[ann]' (or use the default faiss-ivf)") from None


def _exact(x: np.ndarray):  # type: ignore[no-untyped-def]
    """A brute-force faiss index over x."""
    import faiss

    flat = faiss.IndexFlatL2(x.shape[1])
    flat.add(x)
    return flat


def build_index(arrays: Sequence[np.ndarray], *, backend: str = DEFAULT_BACKEND,
                files: Sequence[str] = (), threads: int = 2, seed: int = 0,
                nlist: int | None = None, nprobe: int = 32, m: int = 16,
                ef_construction: int = 80, ef: int = 64) -> FrameIndex:
    """Index the rows of each file's (frames, d) array, in the order given."""
    if backend not in BACKENDS:
        raise ConfigError(f"index backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    arrays = [np.asarray(a, np.float32) for a in arrays]
    if not arrays or sum(a.shape[0] for a in arrays) == 0:
        raise MediaError("no frames to index: the files have no frame features")
    t0 = time.perf_counter()
    x = np.concatenate(arrays)
    center = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    x -= center
    offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])]).astype(np.int64)
    n, d = x.shape
    index = FrameIndex(x, offsets, backend, list(files), nprobe=nprobe, ef=ef, center=center)
    if backend in ("faiss-ivf", "faiss-hnsw", "exact"):
        import faiss

        faiss.omp_set_num_threads(threads)
        if backend == "exact":
            index._ann = _exact(x)
        elif backend == "faiss-hnsw":
            ann = faiss.IndexHNSWFlat(d, m)
            ann.hnsw.efConstruction = ef_construction
            ann.add(x)
            index._ann = ann
        else:
            cells = nlist or max(1, min(n // TRAIN_PER_CELL, int(4 * math.sqrt(n)), MAX_CELLS))
            quantizer = faiss.IndexFlatL2(d)
            ann = faiss.IndexIVFFlat(quantizer, d, cells)
            ann.cp.seed = seed
            ann.cp.niter = KMEANS_ITERATIONS
            rng = np.random.default_rng(seed)
            take = min(n, cells * TRAIN_PER_CELL)
            train = x[np.sort(rng.choice(n, take, replace=False))] if take < n else x
            ann.train(train)
            ann.add(x)
            index._ann = ann
    else:
        ann = _need("hnswlib").Index(space="l2", dim=d)
        ann.init_index(max_elements=n, ef_construction=ef_construction, M=m, random_seed=seed)
        ann.add_items(x, np.arange(n), num_threads=threads)
        index._ann = ann
    index.build_seconds = time.perf_counter() - t0
    return index

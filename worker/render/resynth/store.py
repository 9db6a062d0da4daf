"""Where frame features and frame indexes live beside the catalog, and building them once.

Per-file features: `<data>/features/frames-v<VERSION>/file-<id>.npz` (one target per file).
An index: `<data>/index/frames-v<VERSION>/<name>-<backend>-<digest>/`, the digest naming the
files it covers, so a second render over the same files reuses it and another set builds anew.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import MediaError
from worker.render.resynth.features import VERSION, FrameFeatures, frame_features, load_features
from worker.render.resynth.features import save_features as _save
from worker.render.resynth.index import FrameIndex, build_index


@dataclass(frozen=True)
class SourceFile:
    """A catalogued film: its id and where it is on disk."""

    id: int
    path: Path


def features_path(data_dir: Path, file_id: int) -> Path:
    """Where a file's frame features are stored."""
    return data_dir / "features" / f"frames-v{VERSION}" / f"file-{file_id}.npz"


def ensure_features(data_dir: Path, source: SourceFile) -> tuple[Path, FrameFeatures, bool]:
    """A file's features: loaded when stored, else computed and stored (third item: built)."""
    path = features_path(data_dir, source.id)
    if path.exists():
        try:
            return path, load_features(path), False
        except MediaError:
            path.unlink(missing_ok=True)  # another version or a torn write: rebuild
    feats = frame_features(source.path)
    _save(path, feats)
    return path, feats, True


def index_digest(sources: Sequence[SourceFile], backend: str) -> str:
    """A short digest of the file ids an index covers, and its backend."""
    text = f"{VERSION}:{backend}:" + ",".join(str(s.id) for s in sources)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def index_folder(data_dir: Path, name: str, sources: Sequence[SourceFile], backend: str) -> Path:
    """Where the index of these files lives."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:80]
    return (data_dir / "index" / f"frames-v{VERSION}"
            / f"{safe}-{backend}-{index_digest(sources, backend)}")


def ensure_index(data_dir: Path, name: str, sources: Sequence[SourceFile], *,
                 backend: str = "faiss-ivf",
                 load: Callable[[SourceFile], FrameFeatures] | None = None,
                 ) -> tuple[FrameIndex, Path, bool]:
    """The index over `sources` (in the order given): loaded if built, else built and saved."""
    if not sources:
        raise MediaError(f"{name}: no films with both picture and sound to index")
    folder = index_folder(data_dir, name, sources, backend)
    if (folder / "index.json").exists():
        return FrameIndex.load(folder), folder, False
    get = load or (lambda s: ensure_features(data_dir, s)[1])
    arrays = [get(s).feats for s in sources]
    index = build_index(arrays, backend=backend, files=[str(s.path) for s in sources])
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    index.save(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return FrameIndex.load(folder), folder, True


def index_name(job_id: int, subset: str) -> str:
    """The name of a job's index over one subset's films."""
    return f"job-{job_id}-{subset}"

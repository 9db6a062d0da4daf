"""List media files of a local folder by glob patterns, with metadata taken from their paths."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError, UnsafePathError
from worker.sources.checksums import CHUNK, md5_of


@dataclass(frozen=True)
class LocalFile:
    """A file found in a local collection folder."""

    path: Path  # absolute, symlinks resolved
    relpath: str  # '/'-separated, relative to the folder, as matched (before resolving links)
    size: int
    mtime: float
    metadata: dict = field(hash=False, compare=False)


def path_metadata(relpath: str) -> dict:
    """Metadata from a relative path: its folder parts, the stem, the suffix."""
    p = Path(relpath)
    folders = list(p.parts[:-1])
    return {
        "folders": folders,
        "folder": "/".join(folders),
        "stem": p.stem,
        "suffix": p.suffix.lower(),
        "title": p.stem,
    }


def list_local(
    folder: Path, patterns: Sequence[str], *, allow_outside: bool = False
) -> Iterator[LocalFile]:
    """Yield the files under `folder` matching any glob pattern, sorted by relpath, each once.

    Symlinks are resolved; a link leading outside `folder` is skipped unless `allow_outside`.
    Two names for one file (via links) yield it once, under the first relpath.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"local folder {str(folder)!r} does not exist or is not a folder")
    if isinstance(patterns, str):
        patterns = (patterns,)
    for pattern in patterns:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConfigError(f"glob pattern {pattern!r} must be relative and stay in {folder}")
    root = Path(os.path.realpath(folder))
    found: dict[str, Path] = {}
    for pattern in patterns:
        for p in folder.glob(pattern):
            rel = p.relative_to(folder).as_posix()
            found.setdefault(rel, p)
    seen: set[Path] = set()
    for rel in sorted(found):
        p = found[rel]
        real = Path(os.path.realpath(p))
        if not real.is_file():
            continue
        if not allow_outside and not real.is_relative_to(root):
            continue
        if real in seen:
            continue
        seen.add(real)
        st = real.stat()
        yield LocalFile(real, rel, st.st_size, st.st_mtime, path_metadata(rel))


def md5_file(path: Path, chunk: int = CHUNK) -> str:
    """The md5 hex digest of a file, read in `chunk`-byte pieces."""
    return md5_of(path, chunk)[0]


def require_inside(folder: Path, path: Path) -> Path:
    """Return `path` resolved, raising UnsafePathError if it lies outside `folder`."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(Path(os.path.realpath(folder))):
        raise UnsafePathError(f"{path} resolves outside {folder}")
    return real

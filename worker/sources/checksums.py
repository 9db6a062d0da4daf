"""md5 of files on disk: the one implementation the download, checksum and verify paths share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20  # file reads for hashing


def md5_of(
    path: Path,
    chunk: int = CHUNK,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """(md5 hex, bytes read) of a file, optionally of its first `limit` bytes only;
    `progress(n)` is called after each piece read."""
    h = hashlib.md5()
    n = 0
    with open(path, "rb") as f:
        while limit is None or n < limit:
            buf = f.read(chunk if limit is None else min(chunk, limit - n))
            if not buf:
                break
            h.update(buf)
            n += len(buf)
            if progress is not None:
                progress(len(buf))
    return h.hexdigest(), n

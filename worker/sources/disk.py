"""Free-space checks so a download never fills the data disk past its reserve."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.errors import DownloadError


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def ensure_room(path: Path, needed: int, reserve: int) -> None:
    """Raise a permanent DownloadError if writing `needed` bytes would leave < `reserve` free."""
    if reserve <= 0 and needed <= 0:
        return
    free = free_bytes(path)
    if free - max(0, needed) < reserve:
        raise DownloadError(
            f"not enough disk space for {path}: {free} bytes free, {max(0, needed)} needed, "
            f"{reserve} must stay free",
            permanent=True,
        )

"""Free-space checks so a download never fills the data disk past its reserve."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from core.errors import DownloadError

# Errors that mean "the disk is full" rather than "this file cannot be written".
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class LowDiskError(DownloadError):
    """Too little free disk right now: worth trying again once space is freed (not permanent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    return shutil.disk_usage(_existing(path)).free


def ensure_room(path: Path, needed: int, reserve: int) -> None:
    """Check that writing `needed` bytes would leave at least `reserve` free.

    Raises LowDiskError when the space may come back (other files use it), and a permanent
    DownloadError when even the whole file system could never hold the bytes and the reserve.
    """
    if reserve <= 0 and needed <= 0:
        return
    usage = shutil.disk_usage(_existing(path))
    needed = max(0, needed)
    if needed + reserve > usage.total:
        raise DownloadError(
            f"not enough disk space for {path}, ever: {needed} bytes needed and {reserve} "
            f"must stay free, but the disk holds only {usage.total} bytes",
            permanent=True,
        )
    if usage.free - needed < reserve:
        raise LowDiskError(
            f"not enough disk space for {path}: {usage.free} bytes free, {needed} needed, "
            f"{reserve} must stay free"
        )

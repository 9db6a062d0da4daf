"""An on-disk cache of made media (sample audio, waveforms, map payloads) under the data
directory: keyed by what made it, written atomically, one maker per key at a time."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path


class DiskCache:
    """Files named by the SHA-256 of their key, under `root/<2 hex>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def digest(key: str) -> str:
        """The key's digest, also used as the file's ETag."""
        return hashlib.sha256(key.encode()).hexdigest()

    def path_for(self, key: str, suffix: str) -> Path:
        d = self.digest(key)
        return self.root / d[:2] / f"{d}{suffix}"

    def _lock(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def get_or_make(self, key: str, suffix: str, make: Callable[[], bytes]) -> tuple[Path, bool]:
        """The cached file for `key`, made by `make()` when absent; (path, was_cached)."""
        path = self.path_for(key, suffix)
        if path.is_file():
            return path, True
        with self._lock(path.stem):
            if path.is_file():
                return path, True
            data = make()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            return path, False

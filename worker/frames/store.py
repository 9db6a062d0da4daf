"""A file's fingerprints on disk: one .npy array per field in a folder, written as it is decoded.

A collection holds hundreds of millions of frames, so frames are never catalog rows: each file
gets a folder (`<data_dir>/frames/<file_id>/`) of plain .npy arrays that numpy memory-maps,
plus `meta.json` (stream facts, parameters, counts). Arrays are appended batch by batch, so
memory stays at one batch however long the film; the folder appears complete or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MediaError, SamplemillError
from worker.frames.fingerprint import (
    STATS,
    THUMB_H,
    THUMB_W,
    FingerprintParams,
    FrameBatch,
    iter_fingerprints,
)
from worker.frames.video import VideoReader

FORMAT_VERSION = 1
FIELDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "index": ("<i8", ()),
    "t": ("<f8", ()),
    "phash": ("<u8", ()),
    "dhash": ("<u8", ()),
    "color": ("|u1", (3,)),
    "stats": ("<f4", (len(STATS),)),
    "thumb_gray": ("|u1", (THUMB_H, THUMB_W)),
    "thumb_color": ("|u1", (THUMB_H, THUMB_W, 3)),
}
_HEADER_LEN = 128  # fixed, so the row count can be written in place when the file is closed


class NpyAppender:
    """An .npy file whose first axis grows as rows are appended; valid once closed."""

    def __init__(self, path: Path, dtype: str, tail: tuple[int, ...]) -> None:
        self.path, self.dtype, self.tail = path, np.dtype(dtype), tail
        self.rows = 0
        self.fh = path.open("wb")
        self._header()

    def _header(self) -> None:
        shape = (self.rows, *self.tail)
        text = repr({"descr": self.dtype.str, "fortran_order": False, "shape": shape})
        pad = _HEADER_LEN - 10 - len(text) - 1
        if pad < 0:
            raise SamplemillError(f"{self.path}: npy header too long")
        header = (text + " " * pad + "\n").encode("latin1")
        self.fh.seek(0)
        self.fh.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
        self.fh.seek(0, os.SEEK_END)

    def append(self, rows: np.ndarray) -> None:
        """Append rows of shape (n, *tail)."""
        a = np.ascontiguousarray(rows, dtype=self.dtype)
        if a.shape[1:] != self.tail:
            raise ValueError(f"{self.path.name}: rows of shape {a.shape[1:]}, want {self.tail}")
        self.fh.write(a.tobytes())
        self.rows += len(a)

    def close(self) -> None:
        """Write the final row count into the header and close."""
        self._header()
        self.fh.close()


@dataclass(frozen=True)
class FrameSetSummary:
    """What a fingerprint pass wrote: where, how many frames, the stream facts."""

    path: Path
    frames: int
    fps: float
    duration: float
    decode_errors: int
    bytes: int
    meta: dict[str, Any]


def write_frame_set(video: str | Path, folder: str | Path,
                    params: FingerprintParams | None = None) -> FrameSetSummary:
    """Fingerprint `video` into `folder` (replacing any earlier set there) and summarise it."""
    params = params or FingerprintParams()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        writers = {name: NpyAppender(tmp / f"{name}.npy", dt, tail)
                   for name, (dt, tail) in FIELDS.items()}
        last_t = 0.0
        with VideoReader(video, threads=params.threads, fast=params.fast) as reader:
            try:
                for batch in iter_fingerprints(reader, params):
                    for name, w in writers.items():
                        w.append(getattr(batch, name))
                    last_t = float(batch.t[-1])
            finally:
                for w in writers.values():
                    w.close()
            info = reader.info
            errors = reader.decode_errors
        frames = writers["index"].rows
        if frames == 0:
            raise MediaError(f"{video}: video stream holds no decodable frames")
        fps = info.fps or (frames / last_t if last_t > 0 else 0.0)
        duration = last_t + (1.0 / fps if fps else 0.0)
        meta = {
            "version": FORMAT_VERSION, "frames": frames, "fps": fps, "duration": duration,
            "decode_errors": errors, "stats": list(STATS), "info": info.to_dict(),
            "params": {"every": params.every, "threads": params.threads, "fast": params.fast},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in folder.iterdir())
    return FrameSetSummary(folder, frames, fps, duration, errors, size, meta)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move `src` to `dst`, replacing an existing `dst` (a re-run) without a moment of neither."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        src.rename(dst)


class FrameSet:
    """A stored file's fingerprints, memory-mapped: `fs.phash`, `fs.t`, ... and `fs.meta`."""

    def __init__(self, folder: str | Path, *, mmap: bool = True) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.is_file():
            raise SamplemillError(f"{self.folder}: no frame set here (meta.json missing)")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("version") != FORMAT_VERSION:
            raise SamplemillError(f"{self.folder}: frame set version {self.meta.get('version')}, "
                                  f"this code reads {FORMAT_VERSION}")
        self._mode = "r" if mmap else None
        self._arrays: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in FIELDS:
            raise AttributeError(name)
        if name not in self._arrays:
            self._arrays[name] = np.load(self.folder / f"{name}.npy", mmap_mode=self._mode)
        return self._arrays[name]

    def __len__(self) -> int:
        return int(self.meta["frames"])

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def duration(self) -> float:
        return float(self.meta["duration"])

    def batch(self, rows: slice | np.ndarray | None = None) -> FrameBatch:
        """The stored rows (all by default) as an in-memory FrameBatch."""
        sel = slice(None) if rows is None else rows
        return FrameBatch(**{name: np.asarray(getattr(self, name)[sel]) for name in FIELDS})

"""The clip-frame cache: every frame a render needs of every clip, at the largest size the
clip is shown, in one flat memory-mapped file (worker/render/engine/store.py's layout).

A cache lives in `<root>/<key>/`: `spec.npz` (what it holds), `frames.bin` (the frames,
created full size and sparse) and `sources/<i>.json` (one per source file once built). Its key
is a digest of everything that determines the bytes (subset digest, sources, spans, sizes,
fps, format version), so a second render of the same plan reuses it and two compositions never
write into each other's. Each source file is built on its own (one target per file, in
parallel across workers, writing disjoint byte ranges): decoded once, in time order, threaded,
each frame scaled once by swscale to a master just big enough for that file's largest clip,
then cropped ("fill") and resized per clip with small separable matrices. A file that cannot be
decoded leaves its clips black and says so in its status.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from threadpoolctl import threadpool_limits

from core.errors import ConfigError, MediaError
from worker.render.engine.store import StoreLayout, fill_black, write_clip
from worker.render.grid import Composition
from worker.render.parts import part_path, sweep_parts

CACHE_VERSION = 1
SKIP_GAP_MS = 15_000.0  # cross a longer stretch nobody needs with a forward seek


@dataclass(frozen=True)
class CacheSpec:
    """What a clip cache holds: per clip its source, picture span, frame count and size."""

    fps: int
    sources: tuple[str, ...]
    source: np.ndarray  # (n,) int64
    vstart_ms: np.ndarray
    vdur_ms: np.ndarray
    nframes: np.ndarray
    w0: np.ndarray
    h0: np.ndarray
    digest: str = ""  # the subset's digest (what was selected), part of the key

    def key(self) -> str:
        """A digest of everything that decides the cache's bytes."""
        h = hashlib.sha256(f"v{CACHE_VERSION}|{self.fps}|{self.digest}|".encode())
        h.update("\0".join(self.sources).encode())
        for a in (self.source, self.vstart_ms, self.vdur_ms, self.nframes, self.w0, self.h0):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:24]

    @property
    def n(self) -> int:
        """Number of clips."""
        return int(self.source.size)

    def layout(self) -> StoreLayout:
        """Where each clip's frames go in frames.bin."""
        return StoreLayout.plan(self.w0, self.h0, self.nframes)

    def save(self, path: Path) -> None:
        """Write the spec as an npz."""
        meta = {"fps": self.fps, "sources": list(self.sources), "digest": self.digest}
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                     source=self.source, vstart_ms=self.vstart_ms, vdur_ms=self.vdur_ms,
                     nframes=self.nframes, w0=self.w0, h0=self.h0)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CacheSpec:
        """Read a spec written by save."""
        with np.load(path) as d:
            meta = json.loads(bytes(d["meta"]).decode())
            return cls(meta["fps"], tuple(meta["sources"]), d["source"], d["vstart_ms"],
                       d["vdur_ms"], d["nframes"], d["w0"], d["h0"], meta["digest"])


def spec_for(comp: Composition, digest: str = "", max_side: int = 1024) -> CacheSpec:
    """The cache a composition needs: each clip at its largest on-screen size (≥ 1 px)."""
    w, h = comp.scene.max_screen_sizes()
    w0 = np.clip(np.ceil(w - 1e-6), 1, max_side).astype(np.int64)
    h0 = np.clip(np.ceil(h - 1e-6), 1, max_side).astype(np.int64)
    m = comp.members
    return CacheSpec(comp.scene.fps, m.sources, m.source.copy(), m.vstart_ms.copy(),
                     m.vdur_ms.copy(), comp.scene.clip_frames.astype(np.int64), w0, h0, digest)


@dataclass
class SourceResult:
    """What building one source file's clips did."""

    source: int
    ok: bool
    clips: int
    frames_written: int
    decoded: int = 0
    seconds: float = 0.0
    source_ms: float = 0.0  # picture time covered by the decode
    error: str = ""
    extra: dict = field(default_factory=dict)


class ClipCache:
    """One cache folder: its spec, layout, frames file and per-source status."""

    def __init__(self, folder: Path, spec: CacheSpec) -> None:
        """Use the cache in folder (see create/open)."""
        self.folder = Path(folder)
        self.spec = spec
        self.layout = spec.layout()

    @classmethod
    def create(cls, root: Path, spec: CacheSpec) -> ClipCache:
        """The cache for spec under root, made (spec and a sparse frames file) if new."""
        folder = Path(root) / spec.key()
        (folder / "sources").mkdir(parents=True, exist_ok=True)
        if not (folder / "spec.npz").exists():
            spec.save(folder / "spec.npz")
        cache = cls(folder, spec)
        frames = folder / "frames.bin"
        if not frames.exists() or frames.stat().st_size != cache.layout.total:
            tmp = part_path(frames)
            with open(tmp, "wb") as fh:
                fh.truncate(max(cache.layout.total, 1))
            os.replace(tmp, frames)
            sweep_parts(frames)
        return cache

    @classmethod
    def open(cls, folder: Path) -> ClipCache:
        """An existing cache folder."""
        folder = Path(folder)
        if not (folder / "spec.npz").exists():
            raise ConfigError(f"{folder} is not a clip cache (no spec.npz)")
        return cls(folder, CacheSpec.load(folder / "spec.npz"))

    def status(self, source: int) -> dict | None:
        """The build status of one source file, or None if not built yet."""
        p = self.folder / "sources" / f"{source}.json"
        return json.loads(p.read_text()) if p.exists() else None

    def missing(self) -> list[int]:
        """Source indices not built yet."""
        return [i for i in range(len(self.spec.sources)) if self.status(i) is None]

    def failed(self) -> dict[int, str]:
        """Sources that could not be decoded, with their errors."""
        out = {}
        for i in range(len(self.spec.sources)):
            st = self.status(i)
            if st and not st["ok"]:
                out[i] = st["error"]
        return out

    def data(self, writable: bool = False) -> np.ndarray:
        """The frames file as a flat uint8 array (memory-mapped)."""
        mm = np.memmap(self.folder / "frames.bin", dtype=np.uint8,
                       mode="r+" if writable else "r", shape=(max(self.layout.total, 1),))
        return mm

    def build_source(self, source: int) -> SourceResult:
        """Decode one source file and write every frame its clips need (idempotent)."""
        t0 = time.perf_counter()
        clips = np.flatnonzero(self.spec.source == source)
        data = self.data(writable=True)
        try:
            with threadpool_limits(1):  # many tiny matrix products: threads only cost
                result = _build(self.spec, self.layout, data, source, clips)
        except MediaError as exc:
            fill_black(data, self.layout, clips)
            result = SourceResult(source, False, int(clips.size), 0, error=str(exc))
        data.flush()
        del data
        result.seconds = time.perf_counter() - t0
        status = {"ok": result.ok, "error": result.error, "clips": result.clips,
                  "frames": result.frames_written, "decoded": result.decoded,
                  "seconds": round(result.seconds, 3), "source_ms": result.source_ms}
        path = self.folder / "sources" / f"{source}.json"
        tmp = part_path(path)
        tmp.write_text(json.dumps(status))
        os.replace(tmp, path)
        sweep_parts(path)
        return result


def resize_matrix(src: int, dst: int, offset: float, span: float) -> np.ndarray:
    """(dst, src) weights taking source pixels [offset, offset + span) to dst pixels.

    Shrinking averages the source pixels each output pixel covers (by overlap); enlarging
    interpolates linearly between pixel centres.
    """
    m = np.zeros((dst, src))
    scale = span / dst
    for j in range(dst):
        a, b = offset + j * scale, offset + (j + 1) * scale
        if scale >= 1.0:
            lo, hi = math.floor(a), math.ceil(b)
            for i in range(max(lo, 0), min(hi, src)):
                m[j, i] = min(b, i + 1) - max(a, i)
        else:
            c = 0.5 * (a + b) - 0.5
            i0 = min(max(math.floor(c), 0), src - 1)
            f = min(max(c - i0, 0.0), 1.0)
            m[j, i0] += 1.0 - f
            m[j, min(i0 + 1, src - 1)] += f
        total = m[j].sum()
        if total > 0:
            m[j] /= total
    return m


def _master_size(spec: CacheSpec, clips: np.ndarray, sw: int, sh: int) -> tuple[int, int]:
    """The smallest picture (source aspect) from which every clip can be cropped at its size."""
    scale = np.maximum(spec.w0[clips] / sw, spec.h0[clips] / sh).max()
    scale = min(float(scale), 1.0)
    return max(2, math.ceil(sw * scale)), max(2, math.ceil(sh * scale))


def _crop_matrices(w0: int, h0: int, mw: int, mh: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column matrices cropping the centre of an mw×mh master to w0:h0 and sizing it."""
    if mw / mh > w0 / h0:  # master wider: crop its sides
        cw, ch = mh * w0 / h0, float(mh)
    else:
        cw, ch = float(mw), mw * h0 / w0
    return (resize_matrix(mh, h0, (mh - ch) / 2, ch), resize_matrix(mw, w0, (mw - cw) / 2, cw))


def _build(spec: CacheSpec, layout: StoreLayout, data: np.ndarray, source: int,
           clips: np.ndarray) -> SourceResult:
    """Decode the source once and write its clips' frames (see the module doc)."""
    path = spec.sources[source]
    if clips.size == 0:
        return SourceResult(source, True, 0, 0)
    # every (time, clip, frame) needed, in time order
    k = np.concatenate([np.arange(spec.nframes[c]) for c in clips])
    owner = np.repeat(clips, spec.nframes[clips])
    times = spec.vstart_ms[owner] + k * 1000.0 / spec.fps
    order = np.argsort(times, kind="stable")
    times, owner, k = times[order], owner[order], k[order]
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open: {exc}") from exc
    written = decoded = 0
    mats: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    pending: dict[int, np.ndarray] = {}  # clips whose frames are still arriving
    filled: dict[int, int] = {}
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base)
        t_start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        sw, sh = stream.codec_context.width, stream.codec_context.height
        if not sw or not sh:
            raise MediaError(f"{path}: video stream has no size")
        mw, mh = _master_size(spec, clips, sw, sh)
        nxt = 0  # next entry of `times` to fill
        prev: np.ndarray | None = None
        prev_t = -math.inf

        def emit(upto: float, picture: np.ndarray) -> int:
            """Write every pending entry before `upto` from picture; return how many."""
            nonlocal nxt
            n = 0
            while nxt < times.size and times[nxt] < upto:
                c = int(owner[nxt])
                if c not in mats:
                    ry, rx = _crop_matrices(int(spec.w0[c]), int(spec.h0[c]), mw, mh)
                    mats[c] = (ry.astype(np.float32), rx.astype(np.float32))
                ry, rx = mats[c]
                if c not in pending:
                    pending[c] = np.empty((int(spec.nframes[c]), int(spec.h0[c]),
                                           int(spec.w0[c]), 3), np.float32)
                    filled[c] = 0
                pending[c][int(k[nxt])] = np.moveaxis(ry @ picture @ rx.T, 0, -1)
                filled[c] += 1
                if filled[c] == spec.nframes[c]:  # all its frames: write every level at once
                    write_clip(data, layout, c, pending.pop(c))
                nxt += 1
                n += 1
            return n

        if times[0] > SKIP_GAP_MS:
            container.seek(int((times[0] / 1000.0 + t_start - 1.0) / tb), stream=stream,
                           backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = (frame.pts * tb - t_start) * 1000.0
            decoded += 1
            if prev is not None:
                written += emit(t, prev)
            if nxt >= times.size:
                break
            if prev is not None and times[nxt] - t > SKIP_GAP_MS:  # nothing needed for a while
                container.seek(int((times[nxt] / 1000.0 + t_start - 1.0) / tb), stream=stream,
                               backward=True)
                prev, prev_t = None, -math.inf
                continue
            if t < prev_t:
                continue  # a frame from before a seek's landing point
            picture = frame.reformat(width=mw, height=mh, format="yuv444p",
                                     interpolation="AREA").to_ndarray()
            prev = picture.reshape(3, mh, mw).astype(np.float32)
            prev_t = t
        if prev is not None:
            written += emit(math.inf, prev)  # past the end: hold the last frame
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: decoding failed: {exc}") from exc
    finally:
        container.close()
    if nxt < times.size:
        raise MediaError(f"{path}: no picture for {times.size - nxt} clip frames")
    return SourceResult(source, True, int(clips.size), written, decoded,
                        source_ms=float(times[-1] - times[0]))

"""Render frames of a Scene from a clip-frame store: yuv420p for the encoder, RGB for PNGs."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import av
import numba
import numpy as np

from core.errors import ConfigError
from worker.render.engine.raster import clear, draw_clips, frame_planes, new_frame
from worker.render.engine.scene import Scene
from worker.render.engine.shear import apply_shear
from worker.render.engine.store import StoreLayout


def check_store(scene: Scene, layout: StoreLayout, data: np.ndarray) -> None:
    """Refuse a store that was built for another scene (clip count or size mismatch)."""
    if layout.n != scene.n:
        raise ConfigError(f"clip store has {layout.n} clips, the scene {scene.n}")
    if data.size < layout.total:
        raise ConfigError(f"clip store holds {data.size} bytes, its layout needs {layout.total}")


def draw_frame(scene: Scene, data: np.ndarray, layout: StoreLayout, f: int,
               buf: np.ndarray | None = None) -> np.ndarray:
    """Composite frame f into a yuv420p buffer (new, or `buf` reused) and return it."""
    if not 0 <= f < scene.n_frames:
        raise ConfigError(f"frame {f} is outside 0..{scene.n_frames - 1}")
    if buf is None:
        buf = new_frame(scene.width, scene.height)
    else:
        clear(buf, scene.width, scene.height)
    st = scene.state(f)
    if st.clip.size:
        lev = layout.level_for(st.clip, st.sw, st.sh)
        k = np.minimum(st.k, layout.nframes[st.clip] - 1)
        off = layout.frame_offset(st.clip, lev, k)
        y, u, v = frame_planes(buf, scene.width, scene.height)
        draw_clips(y, u, v, data, off, layout.lw[st.clip, lev], layout.lh[st.clip, lev],
                   st.cx, st.cy, st.sw, st.sh, np.cos(st.rotation), np.sin(st.rotation),
                   st.brightness.astype(np.float64), st.alpha.astype(np.float64))
    if scene.shear is not None:
        apply_shear(frame_planes(buf, scene.width, scene.height), scene.shear, scene.t_ms(f))
    return buf


def compositor_threads(threads: int) -> None:
    """Hold numba's parallel compositor in the calling thread to `threads` threads.

    numba's thread count is per calling thread: setting it in a worker's main thread does not
    reach the thread that composites ahead of the encoder, which kept using every core.
    """
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def iter_frames(scene: Scene, data: np.ndarray, layout: StoreLayout, start: int, stop: int,
                *, ahead: int = 2, threads: int | None = None) -> Iterator[np.ndarray]:
    """Yield yuv420p buffers for frames start..stop-1.

    With `threads` of 1 every frame is composited in the caller's thread, one after the other,
    so a worker held to one thread (x264 threads=1) uses one core, not two. Otherwise a
    compositor thread (on `threads` numba threads, or numba's default) works up to `ahead`
    frames early beside the encoder: it releases the GIL. Buffers are recycled, so a consumer
    must be done with a buffer before asking for the next (encoders copy on entry). The
    frames do not depend on the thread count.
    """
    check_store(scene, layout, data)
    if threads == 1:
        before = numba.get_num_threads()
        compositor_threads(1)
        try:
            buf = new_frame(scene.width, scene.height)
            for f in range(start, stop):
                yield draw_frame(scene, data, layout, f, buf)
        finally:
            numba.set_num_threads(before)
        return
    bufs = [new_frame(scene.width, scene.height) for _ in range(ahead + 1)]
    pending: deque[Future[np.ndarray]] = deque()
    nxt = start
    init, args = (compositor_threads, (threads,)) if threads else (None, ())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="composite", initializer=init,
                            initargs=args) as pool:
        for _ in range(start, stop):
            while nxt < stop and len(pending) < ahead:
                pending.append(pool.submit(draw_frame, scene, data, layout, nxt,
                                           bufs[nxt % len(bufs)]))
                nxt += 1
            yield pending.popleft().result()


def yuv_to_rgb(buf: np.ndarray, width: int, height: int) -> np.ndarray:
    """A yuv420p buffer as an (h, w, 3) RGB image, converted as the decoder would."""
    frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
    return frame.to_ndarray(format="rgb24")


def render_rgb(scene: Scene, data: np.ndarray, layout: StoreLayout, f: int) -> np.ndarray:
    """Frame f as an RGB image (for `--frame N` PNGs and contact sheets)."""
    check_store(scene, layout, data)
    return yuv_to_rgb(draw_frame(scene, data, layout, f), scene.width, scene.height)

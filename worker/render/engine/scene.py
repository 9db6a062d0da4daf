"""A composition as data: clips with keyframed properties, a camera, plays and picture loops.

Compositions (proliferation, ...) build a Scene once; every output frame is then a pure
function of (scene, frame number), which is what lets chunks render anywhere, in any order,
and still join into the same bytes. `Scene.state(f)` evaluates every clip's properties for one
frame with whole-array numpy (no Python per clip) and returns the visible clips in draw order.

World coordinates are output pixels at zoom 1: a clip's base rectangle is centred at (cx, cy)
with size w×h. Properties: x, y (offset, world px), scale, scale_y (the height only: the
clip's picture is stretched, and the clip cache keeps its own aspect), brightness (0 black, 1
as is), alpha, rotation (degrees, clockwise) and z (higher is drawn later; ties by clip
index). The camera's zoom scales the world about the world point (cam_x, cam_y), which sits at
the frame centre. An optional row shear (engine/shear.py) slides the finished frame's pixel
rows sideways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from worker.render.engine.shear import RowShear
from worker.render.engine.tracks import Track, latest_at_or_before

PROPS: dict[str, float] = {"x": 0.0, "y": 0.0, "scale": 1.0, "brightness": 1.0, "alpha": 1.0,
                           "rotation": 0.0, "z": 0.0, "scale_y": 1.0}
CAMERA = ("zoom", "cam_x", "cam_y")


@dataclass(frozen=True)
class FrameState:
    """The clips to draw in one frame, back to front, with everything the compositor needs."""

    clip: np.ndarray  # clip indices in draw order
    cx: np.ndarray  # screen centre, px
    cy: np.ndarray
    sw: np.ndarray  # screen size, px
    sh: np.ndarray
    rotation: np.ndarray  # radians, clockwise
    brightness: np.ndarray
    alpha: np.ndarray
    k: np.ndarray  # frame of the clip's picture loop


def pingpong(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Frame index of step m (≥ 0) in a forward-then-backward loop over n frames."""
    m = np.maximum(np.asarray(m, dtype=np.int64), 0)
    n = np.asarray(n, dtype=np.int64)
    period = np.maximum(2 * (n - 1), 1)
    r = m % period
    return np.where(n <= 1, 0, np.where(r < n, r, period - r))


@dataclass(frozen=True)
class Scene:
    """Everything needed to render any frame of a composition."""

    width: int
    height: int
    fps: int
    n_frames: int
    base: np.ndarray  # (n, 4): cx, cy, w, h in world px
    clip_frames: np.ndarray  # (n,) frames in each clip's picture loop
    tracks: dict[str, Track] = field(default_factory=dict)
    camera: dict[str, Track] = field(default_factory=dict)
    play_clip: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    play_t: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ms, sorted per clip
    phase_ms: np.ndarray | None = None  # (n,) picture time at a play's start, from the span start
    initial_offset_ms: float = 0.0
    shear: RowShear | None = None  # slide the finished frame's rows sideways

    def __post_init__(self) -> None:
        """Check sizes and fill defaults, so a bad scene fails here rather than mid-render."""
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            raise ConfigError(
                f"frame size must be even and positive, got {self.width}x{self.height}")
        if self.fps <= 0 or self.n_frames <= 0:
            raise ConfigError("a scene needs fps > 0 and at least one frame")
        n = self.base.shape[0]
        if self.base.shape != (n, 4) or self.clip_frames.shape != (n,):
            raise ConfigError("scene base must be (n, 4) and clip_frames (n,)")
        object.__setattr__(self, "tracks", dict(self.tracks))
        object.__setattr__(self, "camera", dict(self.camera))
        unknown = set(self.tracks) - set(PROPS) or set(self.camera) - set(CAMERA)
        if unknown:
            raise ConfigError(f"unknown scene properties: {sorted(unknown)}")
        for name, default in PROPS.items():
            if name not in self.tracks:
                self.tracks[name] = Track.constant(n, default)
        defaults = {"zoom": 1.0, "cam_x": self.width / 2, "cam_y": self.height / 2}
        for name in CAMERA:
            if name not in self.camera:
                self.camera[name] = Track.constant(1, defaults[name])
        if self.phase_ms is None:
            object.__setattr__(self, "phase_ms", np.zeros(n))
        order = np.lexsort((self.play_t, self.play_clip))
        object.__setattr__(self, "play_clip", np.asarray(self.play_clip, np.int64)[order])
        object.__setattr__(self, "play_t", np.asarray(self.play_t, np.float64)[order])

    @property
    def n(self) -> int:
        """Number of clips."""
        return int(self.base.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the render in seconds."""
        return self.n_frames / self.fps

    def t_ms(self, f: int) -> float:
        """Time of frame f in milliseconds."""
        return f * 1000.0 / self.fps

    def camera_at(self, t: float) -> tuple[float, float, float]:
        """(zoom, cam_x, cam_y) at time t ms."""
        return tuple(float(self.camera[c].at(t)[0]) for c in CAMERA)  # type: ignore[return-value]

    def geometry(self, f: int) -> dict[str, np.ndarray]:
        """Every clip's screen centre and size, brightness and alpha at frame f."""
        t = self.t_ms(f)
        zoom, camx, camy = self.camera_at(t)
        p = {name: tr.at(t) for name, tr in self.tracks.items() if name in
             ("x", "y", "scale", "brightness", "alpha", "scale_y")}
        cx = (self.base[:, 0] + p["x"] - camx) * zoom + self.width / 2
        cy = (self.base[:, 1] + p["y"] - camy) * zoom + self.height / 2
        sw = self.base[:, 2] * p["scale"] * zoom
        sh = self.base[:, 3] * p["scale"] * zoom
        return {"cx": cx, "cy": cy, "sw": sw, "sh": sh * p["scale_y"], "sh_own": sh,
                "brightness": p["brightness"], "alpha": p["alpha"]}

    def state(self, f: int) -> FrameState:
        """The visible clips at frame f, back to front."""
        t = self.t_ms(f)
        g = self.geometry(f)
        rot = np.deg2rad(self.tracks["rotation"].at(t))
        cs, sn = np.abs(np.cos(rot)), np.abs(np.sin(rot))
        half_w = 0.5 * (cs * g["sw"] + sn * g["sh"])
        half_h = 0.5 * (sn * g["sw"] + cs * g["sh"])
        vis = ((g["alpha"] > 0) & (g["sw"] > 0) & (g["sh"] > 0)
               & (g["cx"] + half_w > 0) & (g["cx"] - half_w < self.width)
               & (g["cy"] + half_h > 0) & (g["cy"] - half_h < self.height))
        idx = np.flatnonzero(vis)
        if self.tracks["z"].keyed:
            idx = idx[np.lexsort((idx, self.tracks["z"].at(t)[idx]))]
        k = self.loop_frame(t, idx)
        return FrameState(idx, g["cx"][idx], g["cy"][idx], g["sw"][idx], g["sh"][idx], rot[idx],
                          g["brightness"][idx], g["alpha"][idx], k)

    def loop_frame(self, t: float, clips: np.ndarray) -> np.ndarray:
        """Which frame of its picture loop each clip shows at time t ms.

        The loop restarts at each play, phased so the picture at the play's start is the
        moment its sound starts (picture and sound in sync); before a clip's first play it runs
        from the composition's start (plus the initial offset), so every clip keeps moving.
        """
        j = latest_at_or_before(self.play_clip, self.play_t, self.n, t)[clips]
        since = np.full(clips.size, t + self.initial_offset_ms)
        played = j >= 0
        since[played] = t - self.play_t[j[played]] + self.phase_ms[clips[played]]
        m = np.floor(since * self.fps / 1000.0 + 0.5 + 1e-9).astype(np.int64)
        return pingpong(m, self.clip_frames[clips])

    def max_screen_sizes(self, frames: range | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each clip's largest on-screen (w, h) in px over the frames where it can be seen.

        A clip counts only while it is on screen with alpha > 0 and brightness > 0; the clip
        cache stores its frames at this size, so nothing is decoded larger than it is shown.
        The height is the clip's own (scale_y stretches the picture, not the cached frame).
        """
        w, h = np.zeros(self.n), np.zeros(self.n)
        for f in frames if frames is not None else range(self.n_frames):
            g = self.geometry(f)
            r = 0.5 * np.hypot(g["sw"], g["sh"])
            seen = ((g["alpha"] > 0) & (g["brightness"] > 0) & (g["cx"] + r > 0)
                    & (g["cx"] - r < self.width) & (g["cy"] + r > 0) & (g["cy"] - r < self.height))
            np.maximum(w, np.where(seen, g["sw"], 0.0), out=w)
            np.maximum(h, np.where(seen, g["sh_own"], 0.0), out=h)
        return w, h

    def save(self, path: Path) -> None:
        """Write the scene to one .npz file (the plan every chunk reads)."""
        meta = {"width": self.width, "height": self.height, "fps": self.fps,
                "n_frames": self.n_frames, "initial_offset_ms": self.initial_offset_ms,
                "shear": None if self.shear is None else self.shear.to_dict()}
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                  "base": self.base, "clip_frames": self.clip_frames, "phase_ms": self.phase_ms,
                  "play_clip": self.play_clip, "play_t": self.play_t}
        for name, tr in self.tracks.items():
            arrays.update(tr.arrays(f"track.{name}"))
        for name, tr in self.camera.items():
            arrays.update(tr.arrays(f"camera.{name}"))
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Scene:
        """Read a scene written by save."""
        with np.load(path) as d:
            meta = json.loads(bytes(d["meta"]).decode())
            tracks = {n: Track.from_arrays(d, f"track.{n}") for n in PROPS
                      if f"track.{n}.meta" in d}
            camera = {n: Track.from_arrays(d, f"camera.{n}") for n in CAMERA
                      if f"camera.{n}.meta" in d}
            return cls(meta["width"], meta["height"], meta["fps"], meta["n_frames"], d["base"],
                       d["clip_frames"], tracks, camera, d["play_clip"], d["play_t"],
                       d["phase_ms"], meta["initial_offset_ms"],
                       RowShear.from_dict(meta["shear"]) if meta.get("shear") else None)

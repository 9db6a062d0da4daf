"""Generated films for the grid-video tests: shots with known cuts, fades and dissolves, and
films whose picture flashes white exactly when their sound beeps."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SR = 48_000


def write_film(path: Path, picture: Callable[[int], np.ndarray], n_frames: int, fps: int,
               audio: np.ndarray | None = None, sr: int = SR) -> Path:
    """Write an H.264 (yuv420p, every frame as given) + AAC mp4; picture(i) gives RGB frame i."""
    path = Path(path)
    first = picture(0)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "16", "g": str(fps)}
        a_s = None
        if audio is not None:
            a_s = out.add_stream("aac", rate=sr)
            a_s.layout = "stereo"
            a_s.bit_rate = 192_000
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(first if i == 0 else picture(i), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if a_s is not None:
            stereo = np.ascontiguousarray(np.broadcast_to(audio, (2, audio.shape[-1])),
                                          dtype=np.float32)
            for i in range(0, stereo.shape[1], 4096):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, i : i + 4096]),
                                                format="fltp", layout="stereo")
                fr.sample_rate, fr.pts, fr.time_base = sr, i, Fraction(1, sr)
                for pkt in a_s.encode(fr):
                    out.mux(pkt)
            for pkt in a_s.encode():
                out.mux(pkt)
    return path


def shot_picture(shot: int, i: int, size: tuple[int, int], *, pan: float = 0.0) -> np.ndarray:
    """A textured picture unique to `shot` (blocks of colour), drifting slowly with frame i."""
    w, h = size
    rng = np.random.default_rng(1000 + shot)
    blocks = rng.integers(30, 230, (6, 8, 3)).astype(np.uint8)
    img = np.kron(blocks, np.ones((h // 6 + 1, w // 8 + 1, 1), np.uint8))[:h, :w]
    return np.roll(img, int(i * (0.5 + pan)), axis=1)


def shots_film(path: Path, plan: list[tuple[str, float]], *, fps: int = 24,
               size: tuple[int, int] = (160, 90), pan_shot: int | None = None,
               flash_at_s: float | None = None) -> tuple[Path, list[float]]:
    """A film of shots joined by transitions; returns it and the true cut times (s).

    `plan` is [(transition into the shot, shot length s), ...], the first transition "start",
    the others "cut", "fade" (the previous shot fades out over its last 0.4 s, 0.4 s of
    black, the shot fades in over its first 0.4 s) or "dissolve" (the shot's first 0.8 s
    blend from the previous one). True cuts: a cut's first frame, both edges of a fade's
    black, a dissolve's middle. `pan_shot` moves fast sideways (motion, not a cut);
    `flash_at_s` is one white frame (not a cut).
    """
    half = round(0.4 * fps)
    owner = []  # per frame: (shot, transition, frame within the shot) or None for black
    truth: list[float] = []
    for shot, (kind, seconds) in enumerate(plan):
        if kind == "fade":
            truth += [len(owner) / fps, (len(owner) + half) / fps]
            owner += [None] * half
        elif kind == "dissolve":
            truth.append((len(owner) + half) / fps)
        elif kind == "cut":
            truth.append(len(owner) / fps)
        owner += [(shot, kind, j) for j in range(round(seconds * fps))]
    gain = np.ones(len(owner))
    for i, o in enumerate(owner):
        if o is None:
            continue
        shot, kind, j = o
        if kind == "fade" and j < half:
            gain[i] = (j + 0.5) / half
    for i in range(len(owner)):  # fade-outs: the `half` frames before each black run
        if owner[i] is None and i > 0 and owner[i - 1] is not None:
            for j in range(half):
                gain[i - 1 - j] = (j + 0.5) / half

    def picture(i: int) -> np.ndarray:
        o = owner[i]
        if o is None:
            return np.zeros((size[1], size[0], 3), np.uint8)
        shot, kind, j = o
        if flash_at_s is not None and i == round(flash_at_s * fps):
            return np.full((size[1], size[0], 3), 255, np.uint8)
        img = shot_picture(shot, i, size, pan=3.0 if shot == pan_shot else 0.0).astype(float)
        if kind == "dissolve" and j < 2 * half:
            u = (j + 0.5) / (2 * half)
            img = (1 - u) * shot_picture(shot - 1, i, size).astype(float) + u * img
        return np.clip(img * gain[i], 0, 255).astype(np.uint8)

    return write_film(path, picture, len(owner), fps), truth


def beep(seconds: float = 0.06, freq: float = 1000.0, amp: float = 0.8, sr: int = SR):
    """A sine burst."""
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


_made: dict[tuple, Path] = {}  # flash_beep_film's arguments -> the film written for them
_store: list[Path] = []  # this process's folder for them


def _film_store() -> Path:
    """A folder for this process's generated films, removed when it exits."""
    if not _store:
        _store.append(Path(tempfile.mkdtemp(prefix="gridgen-")))
        atexit.register(shutil.rmtree, _store[0], ignore_errors=True)
    return _store[0]


def flash_beep_film(path: Path, events_s: list[float], seconds: float, *, fps: int = 24,
                    size: tuple[int, int] = (128, 72), shade: int = 60,
                    flash_len: int = 1) -> Path:
    """A dim film that turns white for flash_len frames, and beeps, at each event time.

    The same arguments give the same film: it is encoded once per test session and copied
    to `path` (a test's own copy, which it may change) after that."""
    key = (tuple(events_s), seconds, fps, tuple(size), shade, flash_len)
    made = _made.get(key)
    if made is None:
        made = _film_store() / f"film-{len(_made)}.mp4"
        _flash_beep_film(made, events_s, seconds, fps=fps, size=size, shade=shade,
                         flash_len=flash_len)
        _made[key] = made
    shutil.copyfile(made, path)
    return Path(path)


def _flash_beep_film(path: Path, events_s: list[float], seconds: float, *, fps: int,
                     size: tuple[int, int], shade: int, flash_len: int) -> Path:
    flash_frames = {round(t * fps) + j for t in events_s for j in range(flash_len)}
    audio = np.zeros(round(seconds * SR), np.float32)
    for t in events_s:
        a = round(t * SR)
        b = beep()
        audio[a : a + b.size] = b[: audio.size - a]

    def picture(i: int) -> np.ndarray:
        img = np.full((size[1], size[0], 3), shade, np.uint8)
        img[:, (i * 2) % size[0]] = shade + 40  # a little motion
        if i in flash_frames:
            img[:] = 255
        return img

    return write_film(path, picture, round(seconds * fps), fps, audio)

"""Generated films with known truth for the picture tests: moving scenes, planted repeats,
static shots, black frames and slow fades, written as real H.264 files with PyAV.

A scene is a seeded, coloured, low-frequency texture panned along a smooth path with a few
discs moving across it, so every frame of a scene differs from its neighbours and the frame
at scene time `t` is the same picture wherever it is used. A film is a list of shots; a shot
shows frames [start, start + length) of a scene, optionally brighter or darker and with
added noise, so a repeated shot matches its original perceptually but never byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import numpy as np

Kind = Literal["motion", "static", "black", "fade"]
PAD = 64  # texture margin around the frame for the pan


@dataclass(frozen=True)
class Shot:
    """`length` frames of scene `scene` from scene frame `start`.

    `kind`: motion (the scene as it moves), static (frame `start` held), black, or fade (frame
    `start` held and faded linearly to black). `gain` scales brightness, `offset` adds to it,
    `noise` is the std of added Gaussian noise (0-255 scale), `seed` seeds that noise.
    """

    scene: int
    start: int
    length: int
    kind: Kind = "motion"
    gain: float = 1.0
    offset: float = 0.0
    noise: float = 0.0
    seed: int = 0


@dataclass
class Film:
    """A written film: its shots and the frame each starts at."""

    path: Path
    shots: list[Shot]
    starts: list[int]
    fps: int
    size: tuple[int, int]
    frames: int = 0
    extra: dict = field(default_factory=dict)

    def shot_at(self, frame: int) -> Shot:
        """The shot that shows output frame `frame`."""
        i = int(np.searchsorted(self.starts, frame, side="right")) - 1
        return self.shots[i]


@lru_cache(maxsize=64)
def _texture(scene: int, w: int, h: int) -> np.ndarray:
    """A scene's coloured texture, (h + 2 PAD, w + 2 PAD, 3) float32 in 20..235."""
    rng = np.random.default_rng(10_000 + scene)
    th, tw = h + 2 * PAD, w + 2 * PAD
    big = _upsample(rng.random((9, 14, 3)).astype(np.float32), tw, th)
    fine = _upsample(rng.random((th // 8 + 1, tw // 8 + 1, 3)).astype(np.float32), tw, th)
    tex = 0.75 * big + 0.25 * fine
    tex -= tex.min(axis=(0, 1))
    tex /= np.maximum(tex.max(axis=(0, 1)), 1e-6)
    palette = rng.uniform(0.35, 1.0, 3).astype(np.float32)
    return (20 + 215 * tex * palette).astype(np.float32)


def scene_frame(scene: int, t: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `t` of scene `scene` at (width, height): float32 RGB (h, w, 3)."""
    w, h = size
    tex = _texture(scene, w, h)
    rng = np.random.default_rng(scene)
    fx, fy = rng.uniform(0.011, 0.023, 2)
    px, py = rng.uniform(0, 2 * np.pi, 2)
    ox = round(PAD + (PAD - 2) * np.sin(fx * t + px))
    oy = round(PAD + (PAD - 2) * np.sin(fy * t + py))
    img = tex[oy : oy + h, ox : ox + w].copy()
    yy, xx = _grid(h, w)
    for k in range(3):
        r = max(3, int(min(w, h) * rng.uniform(0.08, 0.16)))
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        vx, vy = rng.uniform(-2.5, 2.5, 2) * w / 320
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        cx = _bounce(x0 + vx * t, w)
        cy = _bounce(y0 + vy * t, h)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        img[mask] = colour * (0.6 + 0.4 * (k / 2))
    return img


def _upsample(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bicubic resize of each channel of a float (y, x, c) array to (h, w, c)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a[:, :, c], mode="F").resize(
        (w, h), Image.Resampling.BICUBIC)) for c in range(a.shape[2])], axis=2)


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index planes (open grids) of an h×w picture."""
    return np.ogrid[0:h, 0:w]


def _bounce(x: float, span: float) -> float:
    """Position bouncing between 0 and span."""
    period = 2 * span
    x = x % period
    return x if x <= span else period - x


def shot_frames(shot: Shot, size: tuple[int, int],
                out_size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The shot's frames rendered at `size`, resized to `out_size`, as uint8 RGB (h, w, 3)."""
    w, h = size
    rng = np.random.default_rng(shot.seed)
    for i in range(shot.length):
        if shot.kind == "black":
            img = np.full((h, w, 3), 2.0, np.float32)
        elif shot.kind == "static":
            img = scene_frame(shot.scene, shot.start, size)
        elif shot.kind == "fade":
            img = scene_frame(shot.scene, shot.start, size) * (1.0 - i / max(1, shot.length))
        else:
            img = scene_frame(shot.scene, shot.start + i, size)
        img = img * shot.gain + shot.offset
        if out_size is not None and out_size != size:
            img = _resize(img, out_size)
        if shot.noise:
            img = img + rng.normal(0, shot.noise, img.shape).astype(np.float32)
        yield np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float RGB to (width, height) with PIL's bicubic filter."""
    from PIL import Image

    out = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8)).resize(
        size, Image.Resampling.BICUBIC)
    return np.asarray(out, np.float32)


def write_film(
    path: str | Path,
    shots: list[Shot],
    *,
    size: tuple[int, int] = (320, 180),
    render_size: tuple[int, int] | None = None,
    fps: int = 25,
    crf: int = 23,
    gop: int = 50,
    audio: bool = False,
    rotation: int = 0,
    vfr_seed: int | None = None,
) -> Film:
    """Encode `shots` back to back as H.264 (yuv420p) in an .mp4/.mkv and return the truth.

    `rotation` stores a display rotation (degrees counter-clockwise) and encodes each frame
    turned the other way, so the film displays upright; `vfr_seed` gives frames irregular
    durations (variable frame rate); `audio` adds a quiet AAC track. Scenes are drawn at
    `render_size` (default `size`) and resized, so films of different sizes can share content.
    """
    path = Path(path)
    w, h = size
    coded = (h, w) if rotation in (90, 270) else (w, h)
    starts, n = [], 0
    for s in shots:
        starts.append(n)
        n += s.length
    rng = np.random.default_rng(vfr_seed) if vfr_seed is not None else None
    with av.open(str(path), "w") as container:
        vs = container.add_stream("libx264", rate=fps)
        vs.width, vs.height = coded
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": str(crf), "g": str(gop), "bf": "2"}
        time_base = Fraction(1, fps * 40) if rng is not None else Fraction(1, fps)
        vs.codec_context.time_base = time_base
        if rotation:
            vs.set_display_rotation(rotation)
        audio_stream = None
        if audio:
            audio_stream = container.add_stream("aac", rate=22050)
            audio_stream.layout = "mono"
        pts = 0
        index = 0
        times = []
        for shot in shots:
            for img in shot_frames(shot, render_size or size, size):
                if rotation:
                    img = np.ascontiguousarray(np.rot90(img, -rotation // 90))
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = pts
                frame.time_base = time_base
                times.append(float(pts * time_base))
                pts += 1 if rng is None else int(rng.choice([20, 40, 40, 60, 80]))
                index += 1
                for pkt in vs.encode(frame):
                    container.mux(pkt)
        for pkt in vs.encode():
            container.mux(pkt)
        if audio_stream is not None:
            seconds = float(pts * time_base)
            _write_audio(container, audio_stream, seconds)
    return Film(path, list(shots), starts, fps, size, frames=n, extra={"times": times})


def _write_audio(container, stream, seconds: float) -> None:
    """A quiet 220 Hz tone for `seconds` on `stream`."""
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    y = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for i in range(0, y.size, 4096):
        chunk = np.ascontiguousarray(y[None, i : i + 4096])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = sr
        frame.pts = i
        frame.time_base = Fraction(1, sr)
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode():
        container.mux(pkt)


def corrupt_middle(src: str | Path, dst: str | Path, *, at: float = 0.5, nbytes: int = 20000,
                   seed: int = 0) -> Path:
    """Copy a file with `nbytes` of random bytes written over it at fraction `at`."""
    data = bytearray(Path(src).read_bytes())
    pos = int(len(data) * at)
    rng = np.random.default_rng(seed)
    data[pos : pos + nbytes] = rng.integers(0, 256, min(nbytes, len(data) - pos),
                                           dtype=np.uint8).tobytes()
    dst = Path(dst)
    dst.write_bytes(bytes(data))
    return dst


# --- truth ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repeat:
    """Frames [first, first + length) of a film shown again at [repeat, repeat + length)."""

    first: int
    repeat: int
    length: int


def repeats(film: Film) -> list[Repeat]:
    """Every repeat of moving content in a film, from each segment's first occurrence.

    Two motion shots of the same scene overlapping in scene time repeat each other over the
    overlap; the earliest occurrence of the content is the `first` of each repeat.
    """
    found: list[Repeat] = []
    motion = [(s, st) for s, st in zip(film.shots, film.starts, strict=True) if s.kind == "motion"]
    for j, (b, bs) in enumerate(motion):
        for a, as_ in motion[:j]:
            if a.scene != b.scene:
                continue
            lo, hi = max(a.start, b.start), min(a.start + a.length, b.start + b.length)
            if hi <= lo:
                continue
            first = as_ + lo - a.start
            # the earliest showing of this content, in case an even earlier shot has it too
            earlier = [
                s0 + lo - s.start for s, s0 in motion[:j]
                if s.scene == b.scene and s.start <= lo and s.start + s.length >= hi
            ]
            first = min([first, *earlier])
            rep = Repeat(first, bs + lo - b.start, hi - lo)
            if rep not in found:
                found.append(rep)
    return found


def distinct_shots(n: int, length: int, *, first_scene: int = 0) -> list[Shot]:
    """`n` motion shots of different scenes (fresh content)."""
    return [Shot(scene=first_scene + i, start=0, length=length) for i in range(n)]


@dataclass(frozen=True)
class Shared:
    """Frames [a_first, a_first + length) of film `a` shown at [b_first, ...) of film `b`."""

    a: int
    b: int
    a_first: int
    b_first: int
    length: int


def shared(films: list[Film]) -> list[Shared]:
    """Every stretch of moving content two different films share (film index a < b)."""
    out = []
    for ia, fa in enumerate(films):
        for ib in range(ia + 1, len(films)):
            fb = films[ib]
            for sa, pa in zip(fa.shots, fa.starts, strict=True):
                for sb, pb in zip(fb.shots, fb.starts, strict=True):
                    if sa.kind != "motion" or sb.kind != "motion" or sa.scene != sb.scene:
                        continue
                    lo = max(sa.start, sb.start)
                    hi = min(sa.start + sa.length, sb.start + sb.length)
                    if hi > lo:
                        out.append(Shared(ia, ib, pa + lo - sa.start, pb + lo - sb.start, hi - lo))
    return out


def _altered(rng: np.random.Generator, shot: Shot, seed: int) -> Shot:
    """The same content a little brighter or darker, with noise: a re-encoded copy."""
    return Shot(shot.scene, shot.start, shot.length, gain=float(rng.uniform(0.9, 1.1)),
                offset=float(rng.uniform(-10, 10)), noise=float(rng.uniform(2, 5)), seed=seed)


def distractors(rng: np.random.Generator, scene: int) -> list[Shot]:
    """A static shot, a black stretch and a slow fade: things that must not count as loops."""
    return [
        Shot(scene, int(rng.integers(0, 200)), int(rng.integers(40, 80)), kind="static",
             noise=float(rng.uniform(0, 3)), seed=scene),
        Shot(0, 0, int(rng.integers(15, 35)), kind="black", noise=float(rng.uniform(0, 2)),
             seed=scene + 1),
        Shot(scene + 1, int(rng.integers(0, 200)), int(rng.integers(50, 80)), kind="fade"),
    ]


def loop_film_shots(seed: int, *, repeats_n: int = 8, scene0: int = 100) -> list[Shot]:
    """A film's shots: fresh motion shots, distractors (each static shot and black stretch
    shown twice), `repeats_n` altered repeats of earlier stretches separated by fresh shots,
    and one stretch looped three times back to back."""
    rng = np.random.default_rng(seed)
    scene = scene0
    base: list[Shot] = []
    shots: list[Shot] = []
    for _ in range(repeats_n + 2):
        s = Shot(scene, int(rng.integers(0, 300)), int(rng.integers(60, 110)))
        scene += 1
        base.append(s)
        shots.append(s)
        if rng.random() < 0.4:
            d = distractors(rng, 5000 + scene)
            shots.append(d[int(rng.integers(0, 3))])
    dis = distractors(rng, 6000 + seed)
    shots += dis
    sources = rng.choice(len(base), size=repeats_n, replace=False)
    for k, src in enumerate(sources):
        b = base[int(src)]
        length = int(rng.integers(30, min(80, b.length)))
        start = b.start + int(rng.integers(0, b.length - length + 1))
        shots.append(_altered(rng, Shot(b.scene, start, length), seed * 100 + k))
        shots.append(Shot(scene, int(rng.integers(0, 300)), int(rng.integers(30, 60))))
        scene += 1
        if k == repeats_n // 2:
            shots += dis[:2]  # the same static shot and black stretch again
    period = int(rng.integers(30, 50))
    p0 = int(rng.integers(0, 300))
    shots += [_altered(rng, Shot(scene, p0, period), 9000 + k) for k in range(3)]
    shots.append(Shot(scene + 1, 0, 40))
    return shots


def duplicate_films_shots(seed: int, n_films: int = 4, *, shared_n: int = 10,
                          scene0: int = 300) -> list[list[Shot]]:
    """Shots of `n_films` films that share `shared_n` stretches of a common pool of scenes
    (each placed in two random films, altered), among fresh shots and distractors."""
    rng = np.random.default_rng(seed)
    films: list[list[Shot]] = [[] for _ in range(n_films)]
    scene = scene0
    fresh = scene0 + 1000  # scenes shown once
    for f in range(n_films):
        for _ in range(2):
            films[f].append(Shot(scene, int(rng.integers(0, 300)), int(rng.integers(40, 80))))
            scene += 1
    for k in range(shared_n):
        length = int(rng.integers(50, 100))
        start = int(rng.integers(0, 300))
        a, b = rng.choice(n_films, size=2, replace=False)
        for f in (a, b):
            films[int(f)].append(_altered(rng, Shot(scene, start, length), seed * 100 + k * 2 + f))
            films[int(f)].append(Shot(fresh, int(rng.integers(0, 300)),
                                      int(rng.integers(30, 60))))
            fresh += 1
        scene += 1
    for f in range(n_films):
        films[f] += distractors(rng, 7000 + 10 * f + seed)
    # the same static shot and black stretch in every film: duplicates of nothing
    common = distractors(rng, 8000 + seed)[:2]
    for f in range(n_films):
        films[f] += [Shot(c.scene, c.start, c.length, c.kind, noise=2.0, seed=f) for c in common]
        films[f].append(Shot(fresh, 0, 40))
        fresh += 1
    return films

"""Frame maps: frames sampled from one or many films, placed in 2-D so that alike pictures sit
together (t-SNE, UMAP, and MDS for small sets), written as the seed's JSON, sprite sheets of
thumbnails and a picture of the frames at their places.

Two feature spaces, each a frame's 16×9 thumbnail: "gray" (luma, float, so differences never
wrap around as uint8 did in the seed) and "hsl" (per pixel lightness and the hue as a point on
the colour circle scaled by saturation, S·cos 2πH and S·sin 2πH, so hue is circular and
symmetric and grey pixels carry no hue; H, S and L all on 0-1). Distances are Euclidean after
a PCA to at most 50 dimensions. Layouts are scaled into [0.1, 0.9] with one factor for both
axes, so the map keeps its aspect ratio.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ConfigError, MediaError, SamplemillError
from worker.frames.fingerprint import THUMB_H, THUMB_W, Accumulator, FrameBatch, is_hd
from worker.frames.video import VideoReader

METHODS = ("tsne", "umap", "mds")
SPACES = ("gray", "hsl")
SPRITE_COLUMNS = 64
SPRITE_ROWS = 64


@dataclass(frozen=True)
class FrameMapParams:
    """How to sample, embed and draw a frame map."""

    rate: float = 1.0  # frames per second of film
    methods: tuple[str, ...] = ("tsne", "umap", "mds")
    spaces: tuple[str, ...] = SPACES
    perplexity: float = 30.0
    iterations: int = 500  # t-SNE: a third (at most 250) with early exaggeration, then the rest
    seed: int = 0
    threads: int = 2
    parallel_spaces: bool = True  # the spaces' t-SNEs at once, one process each
    neighbor_trees: int = 15  # Annoy trees for t-SNE's neighbours (openTSNE's default is 50)
    grid_spacing: float = 2.0  # t-SNE FFT: map units per interpolation interval (FIt-SNE: 1)
    mds_max: int = 1500  # MDS is O(n²) in memory and time: only up to this many frames
    umap_neighbors: int = 15
    thumb_width: int = 64  # sprite thumbnails (16: the stored ones, no decoding)
    picture: str = "tsne_gray"  # the layout drawn in the PNG
    picture_size: int = 2048

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"frame map methods must be among {METHODS}, got {self.methods}")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad or not self.spaces:
            raise ConfigError(f"frame map spaces must be among {SPACES}, got {self.spaces}")
        if self.rate <= 0 or self.thumb_width < 8 or self.picture_size < 64:
            raise ConfigError("frame map rate > 0, thumb_width >= 8, picture_size >= 64")
        if self.iterations < 3 or self.neighbor_trees < 1 or self.grid_spacing <= 0:
            raise ConfigError("frame map iterations >= 3, neighbor_trees >= 1, "
                              "grid_spacing > 0")


@dataclass
class FrameSample:
    """Frames chosen for a map: which file (index into `keys`) and when, and their pictures."""

    keys: list[str]
    file: np.ndarray  # (n,) int
    t: np.ndarray  # (n,) float seconds
    gray: np.ndarray  # (n, 9, 16) uint8
    color: np.ndarray  # (n, 9, 16, 3) uint8
    images: np.ndarray | None = None  # (n, h, w, 3) uint8 larger thumbnails for sprites

    def __len__(self) -> int:
        return len(self.t)

    @staticmethod
    def concat(samples: Sequence[FrameSample]) -> FrameSample:
        """One sample of several files' frames, in order."""
        keys: list[str] = []
        files = []
        for s in samples:
            files.append(s.file + len(keys))
            keys += s.keys
        images = None
        if samples and all(s.images is not None for s in samples):
            shapes = {s.images.shape[1:] for s in samples if s.images is not None}
            if len(shapes) == 1:
                images = np.concatenate([s.images for s in samples if s.images is not None])
        return FrameSample(
            keys, np.concatenate(files) if files else np.zeros(0, np.int64),
            np.concatenate([s.t for s in samples]) if samples else np.zeros(0),
            np.concatenate([s.gray for s in samples]) if samples else
            np.zeros((0, THUMB_H, THUMB_W), np.uint8),
            np.concatenate([s.color for s in samples]) if samples else
            np.zeros((0, THUMB_H, THUMB_W, 3), np.uint8),
            images)


def rate_rows(t: np.ndarray, rate: float, fps: float) -> np.ndarray:
    """Rows of a frame-time array nearest each tick k / rate (each row at most once)."""
    t = np.asarray(t, np.float64)
    if not len(t):
        return np.zeros(0, np.int64)
    half = 0.5 / fps if fps else 0.02
    ticks = np.arange(0.0, float(t[-1]) + half + 1e-9, 1.0 / rate)
    rows = np.searchsorted(t, ticks - half, side="left")
    return np.unique(rows[rows < len(t)])


def from_frames(key: str, frames: FrameBatch, rows: np.ndarray) -> FrameSample:
    """A sample of stored fingerprints (rows of one file's FrameBatch or FrameSet)."""
    rows = np.asarray(rows, np.int64)
    return FrameSample([key], np.zeros(len(rows), np.int64), np.asarray(frames.t[rows]),
                       np.asarray(frames.thumb_gray[rows]), np.asarray(frames.thumb_color[rows]))


def thumb_size(width: int, aspect: float) -> tuple[int, int]:
    """(width, height) of a thumbnail `width` wide at picture aspect `aspect` (w / h)."""
    return width, max(2, round(width / max(aspect, 1e-3)))


def sample_video(path: str | Path, key: str, *, rate: float = 1.0, thumb_width: int = 64,
                 threads: int = 0, times: np.ndarray | None = None) -> FrameSample:
    """Decode a file once and keep the frame nearest each 1/rate seconds (or each of `times`):
    16×9 features and, when thumb_width > 16, an RGB thumbnail `thumb_width` wide."""
    with VideoReader(path, threads=threads) as reader:
        info = reader.info
        acc = Accumulator(256, bt709=is_hd(info))
        batches: list[FrameBatch] = []
        images: list[np.ndarray] = []
        aspect = (info.width / info.height) if info.height else 16 / 9
        want = None if times is None else np.sort(np.asarray(times, np.float64))
        half = 0.5 / (info.fps or 25.0)
        k = 0
        for f in reader.frames(rate=rate) if want is None else reader.frames():
            if want is not None:  # keep the frame nearest each wanted time
                if k >= len(want):
                    break
                if f.t + half < want[k]:
                    continue
                while k < len(want) and want[k] <= f.t + half:
                    k += 1
            if f.rotation in (90, 270):
                aspect = info.height / info.width if info.width else aspect
            acc.add(f)
            if thumb_width > THUMB_W and f.frame is not None:
                w, h = thumb_size(thumb_width, aspect)
                coded = (h, w) if f.rotation in (90, 270) else (w, h)
                img = f.frame.reformat(width=coded[0], height=coded[1], format="rgb24",
                                       interpolation="AREA").to_ndarray()
                if f.rotation:
                    img = np.ascontiguousarray(np.rot90(img, f.rotation // 90))
                images.append(img)
            if acc.n == acc.size:
                batches.append(acc.flush())
        if acc.n:
            batches.append(acc.flush())
    if not batches:
        raise MediaError(f"{path}: no frames to sample")
    fb = FrameBatch.concat(batches)
    return FrameSample([key], np.zeros(len(fb), np.int64), fb.t, fb.thumb_gray, fb.thumb_color,
                       np.stack(images) if images else None)


# --- features and embeddings ----------------------------------------------------------------


def gray_features(gray: np.ndarray) -> np.ndarray:
    """(n, 144) float32 grey thumbnails on 0-1 (floats: no uint8 wrap-around)."""
    return np.asarray(gray, np.float32).reshape(len(gray), -1) / 255.0


def hsl_features(color: np.ndarray) -> np.ndarray:
    """(n, 432) float32: per pixel L, S·cos 2πH, S·sin 2πH with H, S, L on 0-1."""
    rgb = np.asarray(color, np.float32).reshape(len(color), -1, 3) / 255.0
    cmax, cmin = rgb.max(axis=2), rgb.min(axis=2)
    chroma = cmax - cmin
    light = (cmax + cmin) / 2.0
    denom = 1.0 - np.abs(2.0 * light - 1.0)
    sat = np.divide(chroma, denom, out=np.zeros_like(chroma), where=denom > 1e-6)
    sat = np.clip(sat, 0.0, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(chroma > 1e-6, chroma, 1.0)
    hue = np.where(cmax == r, ((g - b) / safe) % 6.0,
                   np.where(cmax == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) / 6.0
    hue = np.where(chroma > 1e-6, hue, 0.0)
    angle = 2.0 * np.pi * hue
    feats = np.stack([light, sat * np.cos(angle), sat * np.sin(angle)], axis=2)
    return feats.reshape(len(color), -1).astype(np.float32)


def features(sample: FrameSample, space: str) -> np.ndarray:
    """The sample's feature vectors in `space`."""
    if space == "gray":
        return gray_features(sample.gray)
    if space == "hsl":
        return hsl_features(sample.color)
    raise ConfigError(f"unknown frame map space {space!r}")


def reduce(x: np.ndarray, dims: int = 50, seed: int = 0) -> np.ndarray:
    """PCA to at most `dims` dimensions (centred), float32."""
    x = np.asarray(x, np.float32)
    x = x - x.mean(axis=0)
    if x.shape[1] <= dims or len(x) <= dims:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=seed, svd_solver="randomized").fit_transform(
        x).astype(np.float32)


def fit_square(y: np.ndarray, pad: float = 0.1) -> np.ndarray:
    """Coordinates scaled by one factor for both axes and centred in [pad, 1 - pad]."""
    y = np.asarray(y, np.float64)
    if not len(y):
        return y.reshape(0, 2)
    lo, hi = y.min(axis=0), y.max(axis=0)
    span = float((hi - lo).max())
    if span <= 0:
        return np.full_like(y, 0.5)
    return (y - (lo + hi) / 2.0) * ((1.0 - 2.0 * pad) / span) + 0.5


def _jitter(x: np.ndarray, seed: int) -> np.ndarray:
    """Identical rows (a held picture) get a tiny seeded jitter so embeddings can separate them."""
    scale = float(np.abs(x).max()) or 1.0
    return x + np.random.default_rng(seed).normal(0.0, 1e-4 * scale, x.shape).astype(x.dtype)


def tsne_layout(x: np.ndarray, p: FrameMapParams, *, threads: int | None = None) -> np.ndarray:
    """(n, 2) openTSNE coordinates of rows of x (already jittered and PCA-reduced).

    What keeps 100,000 frames cheap without a worse map (bench/frames.py measures both):
    neighbours by Annoy with `neighbor_trees` trees (on 100,000 grey frames 10 trees found 96 %
    of the exact 90 nearest and 20 trees 98.7 %, at a fifth and two fifths of 50 trees' cost),
    FFT-accelerated gradients whose interpolation grid has one interval per `grid_spacing` map
    units (the grid grows with the map's span, so the late iterations of a large map cost the
    most), PCA initialisation and
    `iterations` split a third (at most 250) with early exaggeration and the rest without."""
    from openTSNE import TSNE

    n = len(x)
    early = min(250, p.iterations // 3)
    large = n >= 4000
    tsne = TSNE(n_components=2, perplexity=float(min(p.perplexity, (n - 1) / 3.0)),
                early_exaggeration_iter=early, n_iter=max(p.iterations - early, 1),
                initialization="pca", negative_gradient_method="fft" if large else "bh",
                neighbors="annoy" if n >= 1000 else "exact",
                knn_kwargs={"n_trees": p.neighbor_trees} if n >= 1000 else None,
                ints_in_interval=p.grid_spacing if large else 1,
                n_jobs=(threads or p.threads) if n >= 2000 else 1, random_state=p.seed,
                verbose=False)
    return np.asarray(tsne.fit(x), np.float64)


def embed(x: np.ndarray, method: str, p: FrameMapParams, *,
          threads: int | None = None) -> np.ndarray | None:
    """(n, 2) coordinates of rows of x by `method`, or None when the method does not apply
    (MDS above mds_max frames, UMAP without umap-learn). `threads` overrides p.threads for
    t-SNE (when the spaces run at once)."""
    n = len(x)
    if n < 4:
        return np.column_stack([np.linspace(0, 1, n), np.full(n, 0.5)]) if n else \
            np.zeros((0, 2))
    x = _jitter(x, p.seed)
    if method == "tsne":
        return tsne_layout(x, p, threads=threads)
    if method == "umap":
        try:
            import umap
        except ImportError:
            return None
        reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(p.umap_neighbors, n - 1)),
                            random_state=p.seed, init="spectral" if n > 10 else "random",
                            n_jobs=1)
        return np.asarray(reducer.fit_transform(x), np.float64)
    if method == "mds":
        if n > p.mds_max:
            return None
        import inspect

        from sklearn.manifold import MDS

        extra = {"init": "classical_mds"} if "init" in inspect.signature(MDS).parameters else {}
        mds = MDS(n_components=2, random_state=p.seed, n_init=1, max_iter=300,
                  normalized_stress="auto", **extra)
        return np.asarray(mds.fit_transform(x.astype(np.float64)), np.float64)
    raise ConfigError(f"unknown frame map method {method!r}")


def _tsne_at_once(xs: dict[str, np.ndarray], p: FrameMapParams) -> dict[str, np.ndarray | None]:
    """Each space's t-SNE at once, one process each (worker/frames/tsne_child.py).

    openTSNE's FFT gradients hold the GIL, so two threads ran one after the other (100,000
    frames: 202 s wall for 206 CPU s); a Celery pool child may not start multiprocessing
    children, so each space runs in a fresh interpreter, its arrays passed as .npy files. If a
    child fails, the spaces run in turn here, with a warning."""
    import dataclasses
    import logging
    import os
    import subprocess
    import sys
    import tempfile

    # each child may use all p.threads: the spaces' t-SNEs differ in length, and the one
    # left running then has the machine to itself
    share = p.threads
    with tempfile.TemporaryDirectory(prefix="samplemill-tsne-") as tmp:
        folder = Path(tmp)
        args = json.dumps(dataclasses.asdict(p))
        procs = {}
        for space, x in xs.items():
            np.save(folder / f"{space}.npy", x)
            procs[space] = subprocess.Popen(
                [sys.executable, "-m", "worker.frames.tsne_child", str(folder), space, args,
                 str(share), str(os.getpid())])
        failed = [space for space, proc in procs.items() if proc.wait() != 0]
        if not failed:
            return {f"tsne_{space}": np.load(folder / f"{space}.out.npy") for space in xs}
    logging.getLogger(__name__).warning("frame map: t-SNE of %s failed in a child process; "
                                        "the spaces run in turn here", failed)
    return {f"tsne_{space}": embed(x, "tsne", p, threads=share) for space, x in xs.items()}


def compute_layouts(sample: FrameSample, p: FrameMapParams) -> dict[str, np.ndarray]:
    """{'tsne_gray': (n, 2), 'umap_hsl': ..., ...} for every method and space that applies.

    With `parallel_spaces` and more than one space, the spaces' t-SNEs run at once in
    processes, sharing p.threads between them; UMAP and MDS then run one after another
    (numba's parallel code is not run from two threads at once)."""
    xs = {space: reduce(features(sample, space), seed=p.seed) for space in p.spaces}
    found: dict[str, np.ndarray | None] = {}
    tsne_first = "tsne" in p.methods and p.parallel_spaces and len(xs) > 1 and len(sample) >= 2000
    if tsne_first:
        found = _tsne_at_once(xs, p)
    out: dict[str, np.ndarray] = {}
    for space, x in xs.items():
        for method in p.methods:
            name = f"{method}_{space}"
            y = found[name] if name in found else embed(x, method, p)
            if y is None:
                continue
            if not np.isfinite(y).all():
                raise SamplemillError(f"{method} over {space} diverged (non-finite coordinates)")
            out[name] = fit_square(y)
    return out


# --- output ---------------------------------------------------------------------------------


@dataclass
class MapFiles:
    """What write_map wrote."""

    json: Path
    picture: Path | None
    sprites: list[Path] = field(default_factory=list)
    frames: int = 0
    layouts: list[str] = field(default_factory=list)


def thumbnails(sample: FrameSample) -> np.ndarray:
    """The sample's pictures for sprites and the PNG: decoded ones, else the 16×9 colour."""
    return sample.images if sample.images is not None else sample.color


def write_sprites(images: np.ndarray, folder: Path, name: str) -> tuple[list[Path], list[str]]:
    """Thumbnails packed into JPEG sheets of 64×64; returns the sheets and each frame's `src`
    (`sheet.jpg#xywh=x,y,w,h`, a media-fragment URI)."""
    from PIL import Image

    n, h, w = images.shape[:3]
    per = SPRITE_COLUMNS * SPRITE_ROWS
    sheets, srcs = [], []
    for s in range(0, n, per):
        chunk = images[s : s + per]
        rows = -(-len(chunk) // SPRITE_COLUMNS)
        cols = min(len(chunk), SPRITE_COLUMNS)
        sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
        for k, img in enumerate(chunk):
            r, c = divmod(k, SPRITE_COLUMNS)
            sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
            srcs.append(f"{name}-sprites-{s // per:03d}.jpg#xywh={c * w},{r * h},{w},{h}")
        path = folder / f"{name}-sprites-{s // per:03d}.jpg"
        Image.fromarray(sheet).save(path, quality=88)
        sheets.append(path)
    return sheets, srcs


def draw_map(xy: np.ndarray, images: np.ndarray, path: Path, *, size: int = 2048,
             title: str = "") -> Path:
    """A PNG of each picture pasted at its place (later frames on top), on dark grey."""
    from PIL import Image, ImageDraw

    n = len(xy)
    h0, w0 = images.shape[1:3]
    # thumbnails wide enough to see, small enough that a crowded map stays readable
    width = int(np.clip(size / max(np.sqrt(max(n, 1)), 1.0) * 1.2, 12, max(w0, 12)))
    width = min(width, size // 4)
    height = max(2, round(width * h0 / w0))
    canvas = Image.new("RGB", (size, size), (24, 24, 24))
    pics = images
    if (h0, w0) != (height, width):
        pics = _resize_all(images, width, height)
    pos = np.clip(np.rint(np.asarray(xy) * size - [width / 2, height / 2]), 0,
                  [size - width, size - height]).astype(int)
    arr = np.asarray(canvas).copy()
    for k in range(n):
        x, y = pos[k]
        arr[y : y + height, x : x + width] = pics[k]
    canvas = Image.fromarray(arr)
    if title:
        ImageDraw.Draw(canvas).text((10, 8), title, fill=(230, 230, 230))
    canvas.save(path)
    return path


def _resize_all(images: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(images), height, width, 3), np.uint8)
    for k, img in enumerate(images):
        out[k] = np.asarray(Image.fromarray(img).resize((width, height),
                                                        Image.Resampling.BILINEAR))
    return out


def write_map(folder: str | Path, sample: FrameSample, layouts: dict[str, np.ndarray],
              p: FrameMapParams, *, name: str = "frame-map", title: str = "") -> MapFiles:
    """Write `<name>.json` (the seed's shape: a list of {src, tsne_gray: [x, y], ...} plus the
    frame's file and time), the sprite sheets and `<name>.png` (layout `p.picture`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pics = thumbnails(sample)
    sheets, srcs = write_sprites(pics, folder, name) if len(sample) else ([], [])
    items = []
    for k in range(len(sample)):
        item: dict = {"src": srcs[k], "file": sample.keys[int(sample.file[k])],
                      "t": round(float(sample.t[k]), 3)}
        for lname, xy in layouts.items():
            item[lname] = [round(float(xy[k, 0]), 5), round(float(xy[k, 1]), 5)]
        items.append(item)
    json_path = folder / f"{name}.json"
    json_path.write_text(json.dumps(items))
    picture = None
    chosen = p.picture if p.picture in layouts else next(iter(layouts), None)
    if chosen is not None and len(sample):
        picture = draw_map(layouts[chosen], pics, folder / f"{name}.png", size=p.picture_size,
                           title=title or f"{chosen}: {len(sample)} frames")
    return MapFiles(json_path, picture, sheets, len(sample), list(layouts))


def knn_label_score(xy: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Share of each point's k nearest map neighbours that carry its label (1: perfect)."""
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels)
    k = min(k, len(xy) - 1)
    if k < 1:
        return 1.0
    idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy)[1][:, 1:]
    return float((labels[idx] == labels[:, None]).mean())

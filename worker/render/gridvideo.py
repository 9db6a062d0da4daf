"""A grid video from plan to mp4, in steps any worker can take: plan once, build the clip cache
per source file, render frame-range chunks into H.264 segments, mix the audio, join.

Every step reads what the plan folder holds and writes its own file under an atomic rename,
so a killed step is redone alone and its output is the same bytes whoever redoes it.
`render_all` runs the steps in one process (previews, tests, benches).

Plan folder: scene.npz + composition.npz (the composition), plan.json (cache folder, chunks,
codec, mix), segments/NNNNN.mp4, mix.npy (+ mix.json, and mix.wav/.flac on request).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from worker.render.clipcache import ClipCache, spec_for
from worker.render.engine.contact import contact_sheet
from worker.render.engine.encode import VideoCodec, encode_segment, join_segments
from worker.render.engine.render import iter_frames, render_rgb
from worker.render.engine.scene import Scene
from worker.render.grid import Composition
from worker.render.mix.mix import ClipSounds, MixParams, mix_plays
from worker.render.output import VideoRenderParams
from worker.render.parts import part_path, sweep_parts


@dataclass(frozen=True)
class VideoPlan:
    """Where a planned render's parts live and how they are made."""

    folder: Path
    cache: Path
    chunks: list[tuple[int, int]]
    codec: VideoCodec
    mix: MixParams
    lossless: str | None
    frames: int
    fps: int
    width: int
    height: int

    def segment(self, i: int) -> Path:
        """Path of chunk i's segment."""
        return self.folder / "segments" / f"{i:05d}.mp4"

    @property
    def mix_path(self) -> Path:
        """The mixed audio (float32 (2, n) npy)."""
        return self.folder / "mix.npy"


def chunk_ranges(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Frame ranges [a, b) of at most chunk_frames covering 0..n_frames."""
    if chunk_frames <= 0:
        raise ConfigError("chunk length must be positive")
    return [(a, min(a + chunk_frames, n_frames)) for a in range(0, n_frames, chunk_frames)]


def codec_for(p: VideoRenderParams) -> VideoCodec:
    """The encoder settings a render's parameters ask for."""
    return VideoCodec(preset=p.preset, crf=p.crf, threads=p.threads)


def plan_video(comp: Composition, p: VideoRenderParams, folder: Path, cache_root: Path,
               digest: str = "") -> VideoPlan:
    """Save the composition, make (or find) its clip cache and fix the chunks."""
    folder = Path(folder)
    (folder / "segments").mkdir(parents=True, exist_ok=True)
    cache = ClipCache.create(cache_root, spec_for(comp, digest))
    fps = comp.scene.fps
    chunks = chunk_ranges(comp.scene.n_frames, round(p.chunk_s * fps))
    mix = MixParams(loudness=p.loudness, ceiling_db=p.ceiling_db)
    plan = VideoPlan(folder, cache.folder, chunks, codec_for(p), mix, p.lossless,
                     comp.scene.n_frames, fps, comp.scene.width, comp.scene.height)
    doc = {"cache": str(plan.cache), "chunks": plan.chunks, "codec": asdict(plan.codec),
           "mix": asdict(plan.mix), "lossless": plan.lossless, "frames": plan.frames,
           "fps": fps, "width": plan.width, "height": plan.height}
    staging = folder / ".staging"
    comp.save(staging)
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for name in ("scene.npz", "composition.npz"):
        h.update((staging / name).read_bytes())
    doc["digest"] = h.hexdigest()
    old = folder / "plan.json"
    if old.exists() and json.loads(old.read_text()).get("digest") != doc["digest"]:
        _forget_outputs(folder)  # another plan under this name: its parts do not fit this one
    for name in ("scene.npz", "composition.npz"):
        os.replace(staging / name, folder / name)
    _write_json(old, doc)
    return plan


def _forget_outputs(folder: Path) -> None:
    """Delete the segments, mix and excerpts of a previous plan in folder."""
    for seg in (folder / "segments").glob("*.mp4"):
        seg.unlink()
    for name in ("mix.npy", "mix.json", "mix.wav", "mix.flac"):
        (folder / name).unlink(missing_ok=True)
    for excerpt in folder.glob("excerpt-*"):
        shutil.rmtree(excerpt, ignore_errors=True)


def load_plan(folder: Path) -> VideoPlan:
    """Read a plan written by plan_video."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / "plan.json").read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder} holds no render plan") from None
    return VideoPlan(folder, Path(doc["cache"]), [tuple(c) for c in doc["chunks"]],
                     VideoCodec(**doc["codec"]), MixParams(**doc["mix"]), doc["lossless"],
                     doc["frames"], doc["fps"], doc["width"], doc["height"])


def render_chunk(plan: VideoPlan, i: int) -> Path:
    """Encode chunk i's frames into its segment (skipped when the segment exists)."""
    out = plan.segment(i)
    if out.exists():
        return out
    a, b = plan.chunks[i]
    scene = Scene.load(plan.folder / "scene.npz")
    cache = ClipCache.open(plan.cache)
    if cache.missing():
        raise ConfigError(f"clip cache {plan.cache.name} is missing sources {cache.missing()}")
    data = np.asarray(cache.data())
    # the compositor gets the encoder's thread count: a worker set to one thread uses one core
    encode_segment(out, iter_frames(scene, data, cache.layout, a, b, threads=plan.codec.threads),
                   scene.width, scene.height, scene.fps, plan.codec)
    return out


def render_mix(plan: VideoPlan) -> dict:
    """Mix the plan's plays into mix.npy (and mix.wav/.flac on request); return its report."""
    report_path = plan.folder / "mix.json"
    if plan.mix_path.exists() and report_path.exists():
        return json.loads(report_path.read_text())
    comp = Composition.load(plan.folder)
    m = comp.members
    result = mix_plays(comp.plays, ClipSounds(m.source, m.start_ms, m.dur_ms, m.sources),
                       comp.scene.duration_s, plan.mix)
    tmp = part_path(plan.mix_path)  # per process, as segments
    with open(tmp, "wb") as fh:
        np.save(fh, result.audio)
    os.replace(tmp, plan.mix_path)
    sweep_parts(plan.mix_path)
    if plan.lossless:
        from worker.render.writers import AudioWriter

        with AudioWriter(plan.folder / f"mix.{plan.lossless}", plan.mix.sr, 2) as w:
            w.write(result.audio)
    report = {"loudness": _finite(result.loudness), "true_peak_db": _finite(result.true_peak_db),
              "plays": result.plays, "renders": result.renders,
              "failed_clips": [int(m.sample_id[c]) for c in result.failed_clips]}
    _write_json(report_path, report)
    return report


def join_video(plan: VideoPlan, out: Path) -> int:
    """Join the segments and mux the mixed audio into out; return the frame count."""
    missing = [i for i in range(len(plan.chunks)) if not plan.segment(i).exists()]
    if missing:
        raise ConfigError(f"segments not rendered yet: {missing[:10]}")
    audio = np.load(plan.mix_path) if plan.mix_path.exists() else None
    out.parent.mkdir(parents=True, exist_ok=True)
    frames = join_segments([plan.segment(i) for i in range(len(plan.chunks))], out,
                           audio=audio, sr=plan.mix.sr)
    if frames != plan.frames:
        raise ConfigError(f"joined {frames} frames, planned {plan.frames}")
    if plan.lossless and (plan.folder / f"mix.{plan.lossless}").exists():
        os.replace(plan.folder / f"mix.{plan.lossless}", out.with_suffix(f".{plan.lossless}"))
    return frames


def frames_png(plan: VideoPlan, frames: list[int], out: Path) -> Path:
    """A contact sheet of the given frames (a few, for people to look at)."""
    scene = Scene.load(plan.folder / "scene.npz")
    cache = ClipCache.open(plan.cache)
    data = np.asarray(cache.data())
    images = [render_rgb(scene, data, cache.layout, f) for f in frames]
    return contact_sheet(images, [f"{f / scene.fps:.1f}s" for f in frames], out)


def frame_png(plan: VideoPlan, f: int, out: Path) -> Path:
    """One frame as a PNG at the render's full size."""
    from PIL import Image

    scene = Scene.load(plan.folder / "scene.npz")
    cache = ClipCache.open(plan.cache)
    img = render_rgb(scene, np.asarray(cache.data()), cache.layout, f)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(out)
    return out


def render_excerpt(plan: VideoPlan, start: int, stop: int, out: Path) -> int:
    """Frames start..stop-1 with their audio into out (segments of their own, same cache)."""
    if not 0 <= start < stop <= plan.frames:
        raise ConfigError(f"excerpt {start}..{stop} is outside the render's 0..{plan.frames}")
    folder = plan.folder / f"excerpt-{start}-{stop}"
    (folder / "segments").mkdir(parents=True, exist_ok=True)
    step = plan.chunks[0][1] - plan.chunks[0][0]
    sub = replace(plan, folder=folder, chunks=[(a, min(a + step, stop))
                                               for a in range(start, stop, step)])
    scene = Scene.load(plan.folder / "scene.npz")
    cache = ClipCache.open(plan.cache)
    data = np.asarray(cache.data())
    for i, (a, b) in enumerate(sub.chunks):
        if not sub.segment(i).exists():
            encode_segment(sub.segment(i), iter_frames(scene, data, cache.layout, a, b,
                                                       threads=plan.codec.threads),
                           scene.width, scene.height, scene.fps, plan.codec)
    render_mix(plan)
    audio = np.load(plan.mix_path)
    sr = plan.mix.sr
    a, b = round(start / plan.fps * sr), round(stop / plan.fps * sr)
    audio = np.ascontiguousarray(audio[:, a:b])
    out.parent.mkdir(parents=True, exist_ok=True)
    return join_segments([sub.segment(i) for i in range(len(sub.chunks))], out, audio=audio,
                         sr=sr)


def build_cache(plan: VideoPlan) -> list[int]:
    """Build every source of the plan's clip cache not built yet; return the failed ones."""
    cache = ClipCache.open(plan.cache)
    for s in cache.missing():
        cache.build_source(s)
    return sorted(cache.failed())


def render_all(comp: Composition, p: VideoRenderParams, out: Path, work: Path,
               cache_root: Path, digest: str = "") -> VideoPlan:
    """Every step in this process: plan, cache, chunks, mix, join (previews, tests, benches)."""
    plan = plan_video(comp, p, work, cache_root, digest)
    build_cache(plan)
    for i in range(len(plan.chunks)):
        render_chunk(plan, i)
    render_mix(plan)
    join_video(plan, Path(out))
    return plan


def _finite(x: float) -> float | None:
    """x, or None for ±inf / NaN (silence), so reports stay strict JSON."""
    return float(x) if np.isfinite(x) else None


def _write_json(path: Path, doc: dict) -> None:
    """Write JSON atomically."""
    tmp = part_path(path)
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    sweep_parts(path)

"""The chaos suite's collection: N generated films (a tone sequence under a drifting coloured
picture, different for each film), served as items of the archive.org look-alike, and the job
file that takes them through every stage, renders included."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.ia_server import Fault, IAServer, ServedFile
from tests.mediagen import tone_sequence
from tests.render.gridgen import shot_picture, write_film

SR = 22_050
FPS = 24
SIZE = (64, 36)
COLLECTION = "chaos"


def film_name(i: int) -> str:
    """Item identifier of film i."""
    return f"film{i:04d}"


def make_films(folder: Path, n: int) -> list[Path]:
    """Write (or reuse) films 0..n-1 into `folder`: 6 to 10 tones each, about 3-5 s long."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{film_name(i)}.mp4"
        if not path.exists():
            audio, _ = tone_sequence(6 + i % 5, SR, seed=1000 + i, gap_range=(0.3, 0.5))
            frames = round(audio.size / SR * FPS)
            part = path.with_suffix(".tmp.mp4")
            write_film(part, lambda f, i=i: shot_picture(i, f, SIZE), frames, FPS, audio, SR)
            part.replace(path)
        paths.append(path)
    return paths


def serve_films(srv: IAServer, films: list[Path],
                faults: dict[int, list[Fault]] | None = None) -> dict[str, ServedFile]:
    """Register each film as an item of the `chaos` collection (film i with faults[i]);
    returns file key ("<item>/<name>") -> served file."""
    out = {}
    for i, path in enumerate(films):
        ident = film_name(i)
        served = ServedFile(path.name, path.read_bytes(), format="h.264",
                            faults=list((faults or {}).get(i, [])))
        srv.add_item(ident, {"title": f"Film {i}", "collection": COLLECTION,
                             "downloads": 100_000 - i, "year": str(1930 + i % 60)}, [served])
        out[f"{ident}/{path.name}"] = served
    return out


def source_faults(n: int, seed: int, *, attempts: int, size_of: dict[int, int]
                  ) -> dict[int, tuple[str, list[Fault]]]:
    """A seeded choice of films on which the server misbehaves, one kind each: stalls longer
    than the client's timeout, a trickle below its minimum rate, or a connection cut mid-body,
    each `attempts` times in a row (so the download task's own retries run out once and the
    failure shows in task_runs before the next run succeeds). Film -> (kind, faults)."""
    rng = random.Random(seed * 7919 + 17)
    chosen = rng.sample(range(n), k=min(n, max(3, n // 12)))
    plan: dict[int, tuple[str, list[Fault]]] = {}
    for j, i in enumerate(chosen):
        kind = ("stall", "trickle", "cut")[j % 3]
        if kind == "stall":
            plan[i] = (kind, [Fault(stall=2.5, times=attempts)])
        elif kind == "trickle":
            plan[i] = (kind, [Fault(rate=3_000, times=attempts)])
        else:
            plan[i] = (kind, [Fault(drop_after=size_of[i] // 3, times=attempts)])
    return plan


def job_toml(endpoint: str, *, name: str = "chaos") -> str:
    """Every stage: scrape, download, probe, analyze, a subset, its layout and grid, a
    sorted_audio render and a small proliferation grid render."""
    fields = ["identifier", "title", "collection", "downloads", "year"]
    return "\n".join([
        f'name = "{name}"',
        "[source]", 'kind = "internet_archive"', f'query = "collection:{COLLECTION}"',
        'format = ".mp4"', f"fields = {json.dumps(fields)}", f'endpoint = "{endpoint}"',
        "[download]",
        "[probe]",
        "[analyze]", 'method = "onset"', "min_ms = 80", "max_ms = 1000",
        "[[subset]]", 'name = "main"', 'filter = "samples>0"', "lim = 256",
        "[[layout]]", 'subset = "main"', "perplexity = 20", 'grid = "4x4"',
        "[[render]]", 'kind = "sorted_audio"', 'name = "by-sound"', 'subset = "main"',
        'sort = "tsne=asc"', 'format = "wav"',
        "[[render]]", 'kind = "proliferation"', 'name = "rings"', 'subset = "main"',
        "grid = 4", "grid0 = 2", "beat_ms = 1500", "width = 256", "height = 144",
        'preset = "ultrafast"', "reverb = 0", "chunk_s = 1.0", "pad_before_ms = 500",
        "pad_after_ms = 500",
    ]) + "\n"

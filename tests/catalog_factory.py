"""Synthetic catalogs for tests and the benchmark: jobs, items, files and samples, seeded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select

from db.bulk import replace_samples
from db.engine import session_scope
from db.models import File, Item, Job, Sample

NOTES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
WORDS = ["War", "night", "Train", "of", "the", "Worlds", "sea", "Atomic", "Film", "Dance",
         "100%", "under_score", "café"]  # fmt: skip
COLLECTIONS = ["Prelinger", "feature_films", "moviesandfilms", None]


@dataclass
class Catalog:
    """What was written: plain-dict copies of every row, for checks computed in Python."""

    job_id: int
    items: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)


def sample_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Seeded random sample features for one file (times in ms, power rounded to make ties)."""
    dur = rng.uniform(80, 1000, n).round(1)
    start = np.cumsum(dur) - dur + rng.uniform(0, 500)
    hz = rng.uniform(40, 2000, n).round(2)
    hz[rng.random(n) < 0.05] = 0.0
    midi = np.where(hz > 0, 69 + 12 * np.log2(np.maximum(hz, 1e-9) / 440), 0.0).round(3)
    octave = np.where(hz > 0, np.floor(midi / 12) - 1, -1).astype(np.int16)
    note = np.array([NOTES[round(m) % 12] if h > 0 else "-" for m, h in zip(midi, hz, strict=True)])
    return {
        "idx": np.arange(n),
        "start": start.round(1),
        "dur": dur,
        "power": rng.uniform(0, 1, n).round(2),
        "hz": hz,
        "note": note,
        "octave": octave,
        "midi": midi,
        "clarity": rng.uniform(0, 1, n).round(3),
    }


def _title(rng: np.random.Generator) -> str | None:
    if rng.random() < 0.1:
        return None
    words = rng.choice(WORDS, size=int(rng.integers(1, 4)))
    return " ".join(words)


def build_catalog(
    engine: Engine,
    *,
    seed: int = 0,
    items: int = 12,
    files_per_item: tuple[int, int] = (1, 3),
    samples_per_file: tuple[int, int] = (0, 80),
    vectors: bool = True,
    name: str = "synthetic",
) -> Catalog:
    """A job with seeded items, files and samples written through `replace_samples`."""
    rng = np.random.default_rng(seed)
    with session_scope(engine) as s:
        job = Job(name=name, spec={"seed": seed})
        s.add(job)
        s.flush()
        cat = Catalog(job.id)
        for i in range(items):
            item = Item(
                job_id=job.id,
                identifier=f"{name}-item-{i:04d}",
                source="synthetic",
                title="The War of the Worlds" if i == 1 else _title(rng),
                creator=None if rng.random() < 0.3 else f"Creator {int(rng.integers(0, 5))}",
                year=1950
                if i == 2
                else (None if rng.random() < 0.2 else int(rng.integers(1900, 2000))),
                collection=COLLECTIONS[int(rng.integers(0, len(COLLECTIONS)))],
            )
            s.add(item)
            s.flush()
            keys = ("id", "identifier", "title", "creator", "year", "collection")
            cat.items.append({c: getattr(item, c) for c in keys})
            for _ in range(int(rng.integers(files_per_item[0], files_per_item[1] + 1))):
                _add_file(s, rng, cat, job.id, item.id, samples_per_file, vectors)
        # A file without an item, to check outer joins.
        _add_file(s, rng, cat, job.id, None, samples_per_file, vectors)
    return cat


def _add_file(s, rng, cat, job_id, item_id, samples_per_file, vectors) -> None:  # type: ignore[no-untyped-def]
    """One file with its samples and per-file statistics, mirrored into `cat`."""
    number = len(cat.files)
    has_audio = bool(rng.random() > 0.1)
    n = int(rng.integers(samples_per_file[0], samples_per_file[1] + 1)) if has_audio else 0
    cols = sample_columns(rng, n)
    f = File(
        job_id=job_id,
        item_id=item_id,
        key=f"file-{number:05d}",
        name=f"Film_{number:05d}.MP4" if number % 2 else f"film {number:05d}.mp4",
        duration=float(rng.uniform(10, 7200)),
        has_audio=has_audio,
        has_video=bool(rng.random() > 0.2),
        samples=n,
        median_power=float(np.median(cols["power"])) if n else None,
        median_hz=float(np.median(cols["hz"])) if n else None,
        median_clarity=float(np.median(cols["clarity"])) if n else None,
        median_dur=float(np.median(cols["dur"])) if n else None,
    )
    s.add(f)
    s.flush()
    cat.files.append({c: getattr(f, c) for c in
                      ("id", "item_id", "name", "duration", "has_audio", "has_video", "samples",
                       "median_power", "median_hz", "median_clarity", "median_dur")})  # fmt: skip
    vecs = rng.standard_normal((n, 39)).astype(np.float32) if vectors else None
    replace_samples(s, job_id=job_id, file_id=f.id, columns=cols, vectors=vecs)
    stmt = select(Sample.idx, Sample.id).where(Sample.file_id == f.id)
    ids = {idx: sid for idx, sid in s.execute(stmt)}
    for i in range(n):
        row = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()}
        row.update(id=ids[i], file_id=f.id, job_id=job_id)
        cat.samples.append(row)


def add_items_bulk(engine: Engine, job_id: int, count: int) -> None:
    """Plain items inserted in one statement (for larger catalogs)."""
    with session_scope(engine) as s:
        s.execute(
            insert(Item),
            [{"job_id": job_id, "identifier": f"bulk-{i}", "source": "synthetic"}
             for i in range(count)],
        )  # fmt: skip

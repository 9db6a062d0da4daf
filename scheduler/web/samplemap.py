"""The sample map of a subset: its t-SNE points and its grid as two views in one page, fed by
one compact binary payload; hovering plays samples (static/map.js), clicking opens the
source; collected samples download as a sample pack (zip of WAVs and a CSV manifest)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from db import read
from db.read import web as wread
from scheduler.web.context import ctx, json_response
from scheduler.web.media import _stamp
from worker.render import preview

MAGIC = b"SMP1"
PACK_MOST = 512
PACK_SAMPLE_CAP_MS = 10_000.0
# name, numpy dtype, JS type: what the map page receives per point, in member order
POINT_COLUMNS = (
    ("id", "<f8", "f64"), ("file", "<i4", "i32"), ("x", "<f4", "f32"), ("y", "<f4", "f32"),
    ("col", "<i4", "i32"), ("row", "<i4", "i32"), ("tsne", "<f4", "f32"),
    ("power", "<f4", "f32"), ("hz", "<f4", "f32"), ("midi", "<f4", "f32"),
    ("clarity", "<f4", "f32"), ("dur", "<f4", "f32"), ("start", "<f4", "f32"),
)
FEATURES = ("power", "midi", "hz", "clarity", "dur", "tsne", "file")


def pack_points(columns: dict[str, np.ndarray], meta: dict) -> bytes:
    """The map payload: magic, header length, JSON header (names, types, offsets, the file
    table, `meta`), then each column as a little-endian typed array, 8-byte aligned."""
    file_ids, file_index = np.unique(columns["file_id"], return_inverse=True)
    arrays = {
        "id": columns["sample_id"], "file": file_index, "x": columns["x"], "y": columns["y"],
        "col": columns["col"], "row": columns["row"], "tsne": columns["tsne"],
        "power": columns["power"], "hz": columns["hz"], "midi": columns["midi"],
        "clarity": columns["clarity"], "dur": columns["dur"], "start": columns["start"],
    }
    n = len(columns["sample_id"])
    blobs, entries, offset = [], [], 0
    for name, dtype, js in POINT_COLUMNS:
        data = np.ascontiguousarray(np.asarray(arrays[name]).astype(dtype)).tobytes()
        entries.append({"name": name, "type": js, "offset": offset, "length": n})
        pad = (-len(data)) % 8
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    header = json.dumps({"n": n, "columns": entries, "files": [int(f) for f in file_ids],
                         **meta}, separators=(",", ":")).encode()
    header += b" " * ((-(len(header) + 8)) % 8)
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(blobs)


def _subset_args(request: Request) -> tuple[int, str]:
    name = request.path_params["subset"]
    if not 0 < len(name) <= 200:
        raise HTTPException(404, "no such subset")
    return request.path_params["job"], name


def map_page(request: Request) -> Response:
    job_id, name = _subset_args(request)
    with ctx(request).session() as s:
        job = read.get_job(s, job_id)
        subset = read.get_subset(s, job_id, name)
        others = [x.name for x in read.subsets(s, job_id)]
    grid = (subset.layout or {}).get("grid")
    return ctx(request).page(request, "map.html", job=job, subset=subset, subsets=others,
                             grid=grid, features=FEATURES,
                             points_url=f"/api/jobs/{job_id}/subsets/{name}/points")


def points(request: Request) -> Response:
    """The map payload, made once per members-and-layout fingerprint and cached on disk."""
    job_id, name = _subset_args(request)
    web = ctx(request)
    with web.session() as s:
        subset = read.get_subset(s, job_id, name)
        stamp = wread.map_stamp(s, job_id, name)
    tag = hashlib.sha256(json.dumps([stamp, subset.count, subset.layout], sort_keys=True,
                                    default=str).encode()).hexdigest()[:32]
    etag = f'"{tag}"'
    headers = {"etag": etag, "cache-control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)

    def make() -> bytes:
        with web.session() as s:
            columns = wread.subset_map(s, job_id, name)
        layout = subset.layout or {}
        return pack_points(columns, {"job": job_id, "subset": name, "grid": layout.get("grid")})

    path, hit = web.cache.get_or_make(f"points|{tag}", ".bin", make)
    return FileResponse(path, media_type="application/octet-stream",
                        headers={**headers, "x-cache": "hit" if hit else "miss"})


def file_names(request: Request) -> Response:
    job_id, name = _subset_args(request)
    with ctx(request).session() as s:
        read.get_subset(s, job_id, name)
        columns = wread.subset_map(s, job_id, name)
        wanted = set(int(i) for i in np.unique(columns["file_id"]))
        names = {f.id: f.name for f in read.files(s, job_id) if f.id in wanted}
    return json_response({str(k): v for k, v in names.items()})


def _ids(raw: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.replace(" ", "").split(",") if x]
    except ValueError:
        raise HTTPException(400, "ids must be comma-separated sample ids") from None
    if not ids:
        raise HTTPException(400, "no samples chosen")
    if len(ids) > PACK_MOST:
        raise HTTPException(400, f"a pack holds at most {PACK_MOST} samples, got {len(ids)}")
    if any(not 0 < i < 2**62 for i in ids):
        raise HTTPException(400, "sample id out of range")
    return list(dict.fromkeys(ids))


MANIFEST = ("id", "job", "file_id", "source_file", "item", "start_ms", "dur_ms", "power", "hz",
            "note", "octave", "clarity")


def pack(request: Request) -> Response:
    """A sample pack: the chosen samples as WAVs (cached) and manifest.csv, zipped."""
    web = ctx(request)
    ids = _ids(request.query_params.get("ids", ""))
    with web.session() as s:
        sources = wread.sample_sources(s, ids)
    missing = sorted(set(ids) - {x.sample.id for x in sources})
    if missing:
        raise HTTPException(404, f"no sample {missing[0]}")
    entries = []
    for n, src in enumerate(sources, 1):
        smp = src.sample
        key = f"pack|{smp.id}|{_stamp(src.path)}|{smp.start}|{smp.dur}|{PACK_SAMPLE_CAP_MS}"
        path, _ = web.cache.get_or_make(key, ".wav", lambda src=src: preview.clip_audio(
            src.path or "", src.sample.start, src.sample.dur, fmt="wav",
            cap_ms=PACK_SAMPLE_CAP_MS))
        stem = preview.safe_name(Path(src.file_name).stem, 40)
        note = preview.safe_name(smp.note.replace("#", "s"), 4) if smp.note != "-" else "x"
        entries.append(preview.PackEntry(
            f"{n:04d}_{note}_{stem}_{smp.id}.wav", path.read_bytes(),
            {"id": smp.id, "job": smp.job_id, "file_id": smp.file_id,
             "source_file": src.file_name, "item": src.item or "", "start_ms": smp.start,
             "dur_ms": smp.dur, "power": smp.power, "hz": smp.hz, "note": smp.note,
             "octave": smp.octave, "clarity": smp.clarity}))
    body = preview.pack_zip(entries, MANIFEST)
    return Response(body, media_type="application/zip", headers={
        "content-disposition": f'attachment; filename="samplemill-pack-{len(entries)}.zip"'})


routes = [
    Route("/jobs/{job:id}/map/{subset}", map_page),
    Route("/api/jobs/{job:id}/subsets/{subset}/points", points),
    Route("/api/jobs/{job:id}/subsets/{subset}/files", file_names),
    Route("/pack.zip", pack),
]

"""Benchmark: bulk sample inserts and subset queries on large synthetic catalogs.

    python -m bench.catalog --quick          # a few min: 1 M samples, old layout vs new, ratios
    python -m bench.catalog --sqlite-samples 1000000 --pg-samples 10000000 --files 200000 --old
    nice python -m bench.catalog --big       # 100 M samples on PostgreSQL alone (~30 GB)

SQLite gets `--sqlite-samples` samples over (samples ÷ 50) files; PostgreSQL gets
`--pg-samples` over `--files` files in a dedicated database (samplemill_bench, dropped at the
end unless --keep). Baselines in the same run: ORM `add_all` inserts, a naive Python-side
subset on a small job of the same catalog, and with --old the layout before migration 0007
(vectors in the samples row, the covering index) in a second database, same rows, same query,
written and queried in turn with the new one so machine load falls on both alike: the summary
prints new ÷ old ratios. --novec adds the new layout with no vectors stored (what keeping
vectors outside the database would cost the database); --prev a catalog at migration 0007
(before 0008 dropped the (job_id, file_id) index), written by the same code, for head ÷ 0007.
PostgreSQL runs print the server's settings that bound inserts (the bench changes none), the
load average with every progress line and the checkpoints the inserts forced.

Subset candidates (migration 0009): the inserts also store the bench spec's per-file subset
stage, as the analyze task does for its job's [[subset]] entries (`replace_many` then
`fill_candidates` in the same transaction; the fill is timed on its own, so the summary gives
the insert rate with and without it), and the subset is timed from samples and from the stored
candidates in turn, same members asserted, with the ratio. `--no-candidates` skips both.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from db.bulk import (
    COPY_COLUMNS,
    SampleBatch,
    _concat,
    copy_payload,
    load_vectors,
    make_batch,
    replace_many,
)
from db.engine import create_catalog_engine, get_engine, session_scope
from db.migrate import upgrade
from db.models import File, Job, Sample
from db.query import compile_predicate
from db.subsets import SubsetParams, candidates_cover, create_subset, fill_candidates, select_subset

NOTES = np.array(["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B", "-"])
SPEC = SubsetParams(
    name="bench",
    filter="samples>80&medianPower>0.5",
    ffilter="octave>1&power>0",
    fsort="power=desc=0.75&clarity=desc",
    flim=20,
    lim=16384,
)
CHUNK_FILES = 2000
MEAN_SAMPLES = 50
OLD_REVISION = "0006"  # the layout before vectors left the samples row
PREV_REVISION = "0007"  # vectors per file, samples still indexed by (job_id, file_id)
OLD_COLUMNS = (*COPY_COLUMNS, "vector")


SERVER_SETTINGS = ("server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout",
                   "wal_compression", "synchronous_commit", "full_page_writes", "autovacuum",
                   "work_mem", "max_parallel_workers_per_gather")


def log(msg: str) -> None:
    print(msg, flush=True)


def load_average() -> str:
    """The 1-minute load average now (the machine is shared: every rate is read against it)."""
    return f"{os.getloadavg()[0]:.1f}"


def server_settings(engine: Engine) -> str:
    """The PostgreSQL settings that bound bulk inserts, as `name=value` (the bench does not
    change them: they are the server's, stated beside the figures)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, setting, coalesce(unit, '') FROM pg_settings "
                                 "WHERE name = ANY(:n) ORDER BY name"),
                            {"n": list(SERVER_SETTINGS)}).all()  # fmt: skip
    def shown(value: str, unit: str) -> str:
        return f"{int(value) * 8 // 1024}MB" if unit == "8kB" else f"{value}{unit}"

    return ", ".join(f"{n}={shown(v, u)}" for n, v, u in rows)


def checkpoints(engine: Engine) -> tuple[int, int]:
    """(checkpoints requested, checkpoints timed) so far, server-wide (pg_stat_bgwriter)."""
    with engine.connect() as conn:
        req, timed = conn.execute(text(
            "SELECT checkpoints_req, checkpoints_timed FROM pg_stat_bgwriter")).one()
    return int(req), int(timed)


def _files_and_samples(
    rng: np.random.Generator, first_id: int, count: int, mean: int, vectors: bool
) -> tuple[list[dict[str, Any]], list]:
    """Rows for `count` files (explicit ids) and their sample batches, all vectorised."""
    counts = rng.integers(0, 2 * mean + 1, count)
    n = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.arange(n) - starts
    hz = rng.uniform(40, 2000, n)
    midi = 69 + 12 * np.log2(hz / 440)
    cols = {
        "idx": idx,
        "start": idx * 600.0 + rng.uniform(0, 500, n),
        "dur": rng.uniform(80, 1000, n),
        "power": rng.uniform(0, 1, n),
        "hz": hz,
        "note": NOTES[np.round(midi).astype(int) % 12],
        "octave": (np.floor(midi / 12) - 1).astype(np.int16),
        "midi": midi,
        "clarity": rng.uniform(0, 1, n),
    }
    vecs = rng.standard_normal((n, 39)).astype(np.float32) if vectors else None
    files, batches = [], []
    offset = 0
    for i in range(count):
        c = int(counts[i])
        part = {k: v[offset : offset + c] for k, v in cols.items()}
        fid = first_id + i
        files.append({
            "id": fid, "job_id": 0, "key": f"f{fid}", "name": f"film_{fid}.mp4",
            "duration": 5400.0, "has_audio": True, "samples": c,
            "median_power": float(np.median(part["power"])) if c else None,
            "median_clarity": float(np.median(part["clarity"])) if c else None,
        })  # fmt: skip
        batches.append(make_batch(fid, part, None if vecs is None else vecs[offset : offset + c]))
        offset += c
    return files, batches


def replace_many_old(session: Any, *, job_id: int, batches: list[SampleBatch]) -> int:
    """The write path before migration 0007: one binary COPY with the vector in each row."""
    from sqlalchemy import delete

    ids = [b.file_id for b in batches]
    session.execute(delete(Sample).where(Sample.file_id.in_(ids)))
    batches = [b for b in batches if b.size]
    if not batches:
        return 0
    cols = _concat(job_id, batches)
    vecs = (np.concatenate([b.vectors for b in batches])  # type: ignore[misc]
            if all(b.vectors is not None for b in batches) else None)  # fmt: skip
    dbapi = session.connection().connection.driver_connection
    sql = f"COPY samples ({', '.join(OLD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    with dbapi.cursor() as cur, cur.copy(sql) as copy:
        copy.write(copy_payload(cols, vecs, OLD_COLUMNS))
    return len(cols["start"])


@dataclass
class Side:
    """One catalog under test: its label, engine, and whether it has the pre-0007 layout."""

    label: str
    engine: Engine
    old: bool = False
    vectors: bool = True  # False: the new layout with no vectors in the database at all
    candidates: bool = False  # store the bench spec's per-file subset stage with the samples


def populate_sides(sides: list[Side], job_id: int, files: int, samples: int, *, vectors: bool,
                   first_file_id: int, seed: int = 0, fill: dict[str, float] | None = None,
                   ) -> dict[str, tuple[int, float]]:  # fmt: skip
    """Insert the same files and samples into every side, chunk by chunk in turn (so machine
    load falls on all alike); {label: (samples inserted, seconds spent in replace_many)}.

    A side with `candidates` also stores SPEC's per-file subset candidates in each transaction,
    after the samples, as the analyze task does; those seconds are included, and also added to
    `fill[label]` on their own. Prints the rate so far and over the last stretch, which shows
    any sag as tables grow.
    """
    rng = np.random.default_rng(seed)
    mean = max(1, round(samples / files))
    done = {x.label: 0 for x in sides}
    spent = {x.label: 0.0 for x in sides}
    mark = {x.label: (0, 0.0) for x in sides}
    fid = first_file_id
    for start in range(0, files, CHUNK_FILES):
        count = min(CHUNK_FILES, files - start)
        rows, batches = _files_and_samples(rng, fid, count, mean, vectors)
        for r in rows:
            r["job_id"] = job_id
        for side in sides:
            with session_scope(side.engine) as s:
                s.execute(insert(File), rows)
            write = replace_many_old if side.old else replace_many
            mine = batches if side.vectors else [
                SampleBatch(b.file_id, b.columns, None) for b in batches]
            t = time.perf_counter()
            with session_scope(side.engine) as s:
                done[side.label] += write(s, job_id=job_id, batches=mine)
                if side.candidates:  # what replace_many(..., subset_specs=[SPEC]) does next
                    f = time.perf_counter()
                    fill_candidates(s, [b.file_id for b in batches], [SPEC])
                    if fill is not None:
                        fill[side.label] = fill.get(side.label, 0.0) + time.perf_counter() - f
            spent[side.label] += time.perf_counter() - t
        fid += count
        if (start // CHUNK_FILES) % 50 == 49:
            for side in sides:
                n, t = done[side.label], spent[side.label]
                recent = (n - mark[side.label][0]) / max(t - mark[side.label][1], 1e-9)
                log(f"  [{side.label}] {n:,} samples, {n / t:,.0f} rows/s so far, "
                    f"{recent:,.0f} over the last {n - mark[side.label][0]:,} "
                    f"({time.strftime('%H:%M:%S')}, load {load_average()})")  # fmt: skip
                mark[side.label] = (n, t)
    return {x.label: (done[x.label], spent[x.label]) for x in sides}


def populate(engine: Engine, job_id: int, files: int, samples: int, *, vectors: bool,
             first_file_id: int, seed: int = 0) -> tuple[int, float]:  # fmt: skip
    """One catalog with the shipped layout: (samples inserted, seconds in replace_many)."""
    got = populate_sides([Side("x", engine)], job_id, files, samples, vectors=vectors,
                         first_file_id=first_file_id, seed=seed)  # fmt: skip
    return got["x"]


def _writer(args: tuple[str, int, int, int, int, int]) -> tuple[int, float]:
    """One writer process: its own engine, its own range of file ids (as a worker has)."""
    url, job_id, files, samples, first_file_id, seed = args
    engine = get_engine(url)
    return populate(engine, job_id, files, samples, vectors=True, first_file_id=first_file_id,
                    seed=seed)  # fmt: skip


def parallel_insert(engine: Engine, url: str, writers: int, samples: int, files: int,
                    first_file_id: int) -> float:
    """Aggregate rows/s of `writers` processes inserting at once, each its own files."""
    import multiprocessing as mp

    with session_scope(engine) as s:
        job = Job(name="bench-parallel", spec={})
        s.add(job)
        s.flush()
        job_id = job.id
    per_files, per_samples = files // writers, samples // writers
    work = [(url, job_id, per_files, per_samples, first_file_id + i * per_files, 10 + i)
            for i in range(writers)]
    started = time.perf_counter()
    with mp.get_context("spawn").Pool(writers) as pool:
        results = pool.map(_writer, work)
    wall = time.perf_counter() - started
    rows = sum(n for n, _ in results)
    log(f"  {writers} writers: {rows:,} rows in {wall:.1f} s wall = {rows / wall:,.0f} rows/s "
        f"(files rows included in the wall time)")
    return rows / wall


def orm_baseline(engine: Engine, job_id: int, file_id: int, rows: int) -> float:
    """Rows/s of ORM `session.add_all` for `rows` samples (one transaction, no vectors)."""
    rng = np.random.default_rng(9)
    objs = [
        Sample(job_id=job_id, file_id=file_id, idx=i, start=i * 600.0, dur=300.0,
               power=float(p), hz=440.0, note="A", octave=4, midi=69.0, clarity=0.5)
        for i, p in enumerate(rng.uniform(0, 1, rows))
    ]  # fmt: skip
    t = time.perf_counter()
    with session_scope(engine) as s:
        s.add_all(objs)
    return rows / (time.perf_counter() - t)


def naive_subset(engine: Engine, job_id: int, spec: SubsetParams) -> list[int]:
    """The reference's way: load files and their samples as objects, filter and sort in Python."""
    keep_file = compile_predicate(spec.filter, "files")
    keep_sample = compile_predicate(spec.ffilter, "samples")
    with session_scope(engine) as s:
        files = [f for f in s.scalars(select(File).where(File.job_id == job_id).order_by(File.id))
                 if keep_file({"samples": f.samples, "median_power": f.median_power})]  # fmt: skip
        flim = spec.flim or math.ceil((spec.lim or 0) / max(1, len(files)))
        picked = []
        for f in files:
            rows = s.scalars(select(Sample).where(Sample.file_id == f.id)).all()
            rows = [r for r in rows if keep_sample(r.__dict__)]
            rows.sort(key=lambda r: (r.start, r.id))
            rows.sort(key=lambda r: r.power, reverse=True)
            rows = rows[: max(math.ceil(len(rows) * 0.75), flim)]
            rows.sort(key=lambda r: r.clarity, reverse=True)
            picked += rows[:flim]
        picked.sort(key=lambda r: (r.file_id, r.start, r.id))
        picked.sort(key=lambda r: r.power, reverse=True)
        picked = picked[: max(math.ceil(len(picked) * 0.75), spec.lim or 0)]
        picked.sort(key=lambda r: r.clarity, reverse=True)
        return [r.id for r in picked[: spec.lim]]


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float, Any]:
    """(best, median) seconds over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def _analyze(engine: Engine, vacuum: bool) -> float:
    """Refresh statistics (ANALYZE), with vacuum=True also the visibility map (VACUUM ANALYZE on
    PostgreSQL, which lets index-only scans skip the heap); seconds taken."""
    t = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if vacuum else "ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t


def _size_mb(engine: Engine) -> float | None:
    """PostgreSQL: the bench database's size on disk in MB."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return float(conn.scalar(text("SELECT pg_database_size(current_database())"))) / 1e6


def bench(sides: list[Side], samples: int, files: int, args: argparse.Namespace) -> list[dict]:
    """Populate every side alike, then time inserts, the subset query and the baselines."""
    outs = {x.label: {"backend": x.label, "samples": samples, "files": files} for x in sides}
    for side in sides:
        with session_scope(side.engine) as s:
            big, small = Job(name="bench", spec={}), Job(name="bench-small", spec={})
            s.add_all([big, small])
            s.flush()
            ids = (big.id, small.id)
    big_id, small_id = ids  # fresh databases: the same ids on every side
    names = ", ".join(x.label for x in sides)
    log(f"[{names}] inserting {samples:,} samples over {files:,} files (vectors: yes), "
        f"load {load_average()}")
    pg = [x for x in sides if x.engine.dialect.name == "postgresql"]
    if pg:
        log(f"server settings: {server_settings(pg[0].engine)}")
        before = checkpoints(pg[0].engine)
    fill: dict[str, float] = {}
    got = populate_sides(sides, big_id, files, samples, vectors=True, first_file_id=1, fill=fill)
    if pg:
        after = checkpoints(pg[0].engine)
        log(f"checkpoints during the inserts (server-wide): {after[0] - before[0]} requested "
            f"(WAL full), {after[1] - before[1]} timed; load {load_average()}")
    for label, (n, spent) in got.items():
        outs[label].update(inserted=n, insert_s=spent, insert_rate=n / spent)
        log(f"[{label}] replace_many: {n:,} rows in {spent:.1f} s = {n / spent:,.0f} rows/s")
        if label in fill:
            bare = spent - fill[label]
            outs[label].update(fill_s=fill[label], insert_rate_nofill=n / bare)
            log(f"[{label}] of which fill_candidates {fill[label]:.1f} s ({fill[label] / spent:.0%}"
                f"): {n / bare:,.0f} rows/s without it, {n / spent:,.0f} with it "
                f"({bare / spent:.2f}x)")  # fmt: skip
    small_files = max(10, args.naive_samples // MEAN_SAMPLES)
    if args.naive_samples:
        populate_sides(sides, small_id, small_files, args.naive_samples, vectors=False,
                       first_file_id=files + 1, seed=1)  # fmt: skip
    for side in sides:
        out = outs[side.label]
        if args.orm_rows and args.naive_samples:
            out["orm_rate"] = orm_baseline(side.engine, small_id, files + 1, args.orm_rows)
            log(f"[{side.label}] baseline ORM add_all: {out['orm_rate']:,.0f} rows/s "
                f"({args.orm_rows:,} rows)")  # fmt: skip
        _analyze(side.engine, vacuum=False)
        out["size_mb"] = _size_mb(side.engine)
        if out["size_mb"] is not None:
            log(f"[{side.label}] database {out['size_mb']:,.0f} MB")
        if side.candidates:
            out.update(candidate_stats(side.engine))
            log(f"[{side.label}] subset_candidates: {out['cand_rows']:,} rows "
                f"({out['cand_files']:,} files marked)"
                + (f", {out['cand_mb']:,.0f} MB with its index" if out.get("cand_mb") else ""))
            with session_scope(side.engine) as s:
                assert candidates_cover(s, big_id, SPEC), "candidates do not cover the job"

    def subset(engine: Engine, job: int, candidates: bool = False) -> Callable[[], list[int]]:
        def run() -> list[int]:
            with session_scope(engine) as s:
                return select_subset(s, job, SPEC, candidates=candidates)

        return run

    def subset_rounds(key: str) -> None:
        """Three timings per side, in turn, so load falls on every side alike; a side with
        candidates is timed from samples and from its candidates in turn (same members)."""
        times: dict[str, list[float]] = {x.label: [] for x in sides}
        ctimes: dict[str, list[float]] = {x.label: [] for x in sides}
        for _ in range(3):
            for side in sides:
                t, _, ids_ = timed(subset(side.engine, big_id), repeat=1)
                times[side.label].append(t)
                outs[side.label]["subset_ids"] = ids_
                if side.candidates:
                    t, _, cids = timed(subset(side.engine, big_id, True), repeat=1)
                    assert cids == ids_, "subset from candidates and from samples differ"
                    ctimes[side.label].append(t)
        for side in sides:
            outs[side.label][key] = (min(times[side.label]), statistics.median(times[side.label]))
            if ctimes[side.label]:
                c = ctimes[side.label]
                outs[side.label]["cand_" + key] = (min(c), statistics.median(c))

    subset_rounds("subset_analyzed")  # right after the inserts and ANALYZE, as a job's end is
    for side in sides:
        outs[side.label]["vacuum_s"] = (0.0 if args.skip_vacuum else
                                        _analyze(side.engine, vacuum=True))  # fmt: skip
    if args.skip_vacuum:
        for side in sides:
            outs[side.label]["subset_vacuumed"] = outs[side.label]["subset_analyzed"]
    else:
        subset_rounds("subset_vacuumed")  # after VACUUM ANALYZE: index-only scans possible
    for side in sides:
        out = outs[side.label]
        ids = out["subset_ids"]
        out["subset_best"], out["subset_median"] = out["subset_analyzed"]
        out["subset_n"] = len(ids)
        vb, vm = out["subset_vacuumed"]
        log(f"[{side.label}] subset on {samples:,} samples after ANALYZE: best "
            f"{out['subset_best']:.2f} s, median {out['subset_median']:.2f} s; after VACUUM "
            f"ANALYZE ({out['vacuum_s']:.0f} s): best {vb:.2f} s, median {vm:.2f} s; "
            f"{len(ids):,} members (load {load_average()})")  # fmt: skip
        if "cand_subset_analyzed" in out:
            if args.skip_vacuum:
                out["cand_subset_vacuumed"] = out["cand_subset_analyzed"]
            (cb, cm), (cvb, cvm) = out["cand_subset_analyzed"], out["cand_subset_vacuumed"]
            log(f"[{side.label}] subset from stored candidates, same {len(ids):,} members: "
                f"best {cb:.3f} s, median {cm:.3f} s ({out['subset_best'] / cb:.1f}x faster, "
                f"best); after VACUUM ANALYZE best {cvb:.3f} s, median {cvm:.3f} s "
                f"({vb / cvb:.1f}x)")  # fmt: skip
        t = time.perf_counter()
        with session_scope(side.engine) as s:
            create_subset(s, big_id, SPEC)
        out["create_s"] = time.perf_counter() - t
        log(f"[{side.label}] create_subset (query + store members"
            f"{', from candidates' if side.candidates else ''}): {out['create_s']:.2f} s")
        if side.old:
            out["vectors_s"] = load_old_vectors(side.engine, ids)
        elif side.vectors:
            t = time.perf_counter()
            with session_scope(side.engine) as s:
                vecs = load_vectors(s, ids)
            out["vectors_s"] = time.perf_counter() - t
            assert vecs.shape == (len(ids), 39) and not np.isnan(vecs).any()
        if "vectors_s" in out:
            log(f"[{side.label}] vectors of the {len(ids):,} members: {out['vectors_s']:.2f} s")
        if args.naive_samples:
            small_best, _, small_ids = timed(subset(side.engine, small_id))
            naive_best, _, naive_ids = timed(lambda e=side.engine: naive_subset(e, small_id, SPEC),
                                             repeat=1)  # fmt: skip
            assert naive_ids == small_ids, "naive and SQL subsets differ"
            out["small_sql"], out["small_naive"] = small_best, naive_best
            log(f"[{side.label}] baseline on {args.naive_samples:,} samples: naive Python "
                f"{naive_best:.2f} s vs SQL {small_best:.3f} s (same {len(small_ids):,} members)")
        if args.writers > 1 and not side.old:
            url = side.engine.url.render_as_string(hide_password=False)
            out["parallel_rate"] = parallel_insert(
                side.engine, url, args.writers, args.parallel_samples,
                args.parallel_samples // 50, first_file_id=files + small_files + 1_000_000)
            log(f"[{side.label}] {args.writers} concurrent writers: "
                f"{out['parallel_rate']:,.0f} rows/s aggregate")  # fmt: skip
    return [outs[x.label] for x in sides]


def candidate_stats(engine: Engine) -> dict[str, Any]:
    """Rows and marked files in subset_candidates, and (PostgreSQL) its size with its index."""
    with engine.connect() as conn:
        rows, files = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE sample_id = 0) FROM subset_candidates"
            if engine.dialect.name == "postgresql" else
            "SELECT count(*), sum(sample_id = 0) FROM subset_candidates")).one()
        mb = None
        if engine.dialect.name == "postgresql":
            mb = float(conn.scalar(text(
                "SELECT pg_total_relation_size('subset_candidates')"))) / 1e6
    return {"cand_rows": int(rows), "cand_files": int(files or 0), "cand_mb": mb}


def load_old_vectors(engine: Engine, ids: list[int]) -> float:
    """Seconds to read the members' vectors from the rows, as before migration 0007."""
    t = time.perf_counter()
    with engine.connect() as conn:
        for start in range(0, len(ids), 20_000):
            conn.execute(text("SELECT id, vector FROM samples WHERE id = ANY(:ids)"),
                         {"ids": ids[start : start + 20_000]}).all()  # fmt: skip
    return time.perf_counter() - t


def pg_database(admin: Engine, name: str) -> str:
    """(Re)create database `name`; its URL."""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin.url.set(database=name).render_as_string(hide_password=False)


def run_pg(args: argparse.Namespace, results: list[dict]) -> None:
    """The PostgreSQL run: the shipped layout, and with --old the pre-0007 one beside it."""
    admin_url = make_url(args.pg_url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = [args.db_name] + ([args.db_name + "_old"] if args.old else [])
    names += [args.db_name + "_novec"] if args.novec else []
    names += [args.db_name + "_prev"] if args.prev else []
    sides = []
    try:
        for name in names:
            old, novec = name.endswith("_old"), name.endswith("_novec")
            prev = name.endswith("_prev")
            engine = create_catalog_engine(pg_database(admin, name))
            upgrade(engine, OLD_REVISION if old else PREV_REVISION if prev else "head")
            label = "postgresql" + ("-old" if old else "-novec" if novec else
                                    f"-{PREV_REVISION}" if prev else "")  # fmt: skip
            sides.append(Side(label, engine, old, vectors=not novec,
                              candidates=not (old or novec or prev or args.no_candidates)))
        results.extend(bench(sides, args.pg_samples, args.files, args))
    finally:
        for side in sides:
            side.engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def summary(results: list[dict]) -> None:
    """The table, then new ÷ old ratios when both layouts ran."""
    log("\nbackend | samples | insert rows/s | ORM rows/s | subset s (best/median) | "
        "after VACUUM | member vectors s | naive/SQL small | MB")  # fmt: skip
    for r in results:
        orm = f"{r['orm_rate']:,.0f}" if "orm_rate" in r else "-"
        small = (f"{r['small_naive']:.2f}/{r['small_sql']:.3f}" if "small_sql" in r else "-")
        size = f"{r['size_mb']:,.0f}" if r.get("size_mb") else "-"
        vec = f"{r['vectors_s']:.2f}" if "vectors_s" in r else "-"
        log(f"{r['backend']} | {r['samples']:,} | {r['insert_rate']:,.0f} | {orm} | "
            f"{r['subset_best']:.2f}/{r['subset_median']:.2f} | "
            f"{r['subset_vacuumed'][0]:.2f}/{r['subset_vacuumed'][1]:.2f} | {vec} | {small} | "
            f"{size}")  # fmt: skip
    for r in results:
        if "cand_subset_analyzed" in r:
            (cb, _), (sb, _) = r["cand_subset_analyzed"], r["subset_analyzed"]
            (cvb, _), (svb, _) = r["cand_subset_vacuumed"], r["subset_vacuumed"]
            log(f"\n{r['backend']} stored candidates (same run, same members): subset "
                f"{sb:.2f} -> {cb:.3f} s best after ANALYZE ({sb / cb:.1f}x), {svb:.2f} -> "
                f"{cvb:.3f} s after VACUUM ({svb / cvb:.1f}x); inserts "
                f"{r['insert_rate_nofill']:,.0f} -> {r['insert_rate']:,.0f} rows/s with the fill "
                f"({r['insert_rate'] / r['insert_rate_nofill']:.2f}x); {r['cand_rows']:,} "
                f"candidate rows")  # fmt: skip
    by = {r["backend"]: r for r in results}
    prev = by.get(f"postgresql-{PREV_REVISION}")
    if prev and "postgresql" in by:
        new = by["postgresql"]
        assert new["subset_ids"] == prev["subset_ids"], "0007 and head chose other members"
        log(f"\nhead ÷ {PREV_REVISION} (same rows, same run): inserts "
            f"{new['insert_rate'] / prev['insert_rate']:.2f}x rows/s, subset "
            f"{prev['subset_best'] / new['subset_best']:.2f}x faster (best), disk "
            f"{new['size_mb'] / prev['size_mb']:.2f}x")
    if "postgresql-old" in by and "postgresql" in by:
        new, old = by["postgresql"], by["postgresql-old"]
        assert new["subset_ids"] == old["subset_ids"], "old and new layouts chose other members"
        if "postgresql-novec" in by:
            bare = by["postgresql-novec"]["insert_rate"]
            log(f"no vectors in the database at all ÷ old: inserts {bare / old['insert_rate']:.2f}x"
                f" rows/s (÷ new: {bare / new['insert_rate']:.2f}x)")
        rate = new["insert_rate"] / old["insert_rate"]
        log(f"\nnew ÷ old layout (same rows, same run): inserts {rate:.2f}x "
            f"rows/s, subset {old['subset_best'] / new['subset_best']:.2f}x faster (best; after "
            f"VACUUM {old['subset_vacuumed'][0] / new['subset_vacuumed'][0]:.2f}x), "
            f"member vectors {old['vectors_s'] / new['vectors_s']:.2f}x faster, "
            f"disk {new['size_mb'] / old['size_mb']:.2f}x; same {len(new['subset_ids']):,} members")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 M samples over 20,000 files, old layout vs new, 200 k on SQLite.")
    parser.add_argument("--big", action="store_true",
                        help="100 M samples over 2 M files on PostgreSQL only (about 30 GB).")
    parser.add_argument("--old", action="store_true",
                        help="Also run the layout before migration 0007 and print ratios.")
    parser.add_argument("--prev", action="store_true",
                        help=f"Also a catalog at migration {PREV_REVISION} (its indexes), same "
                             "write path, and print head ÷ it.")
    parser.add_argument("--novec", action="store_true",
                        help="Also a catalog of the new layout with no vectors stored at all.")
    parser.add_argument("--sqlite-samples", type=int, default=1_000_000)
    parser.add_argument("--pg-samples", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=200_000, help="PostgreSQL files.")
    parser.add_argument("--naive-samples", type=int, default=100_000)
    parser.add_argument("--orm-rows", type=int, default=20_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db-name", default="samplemill_bench",
                        help="PostgreSQL bench database (with --old also <name>_old).")
    parser.add_argument("--writers", type=int, default=1,
                        help="Also time this many concurrent writer processes (1: skip).")
    parser.add_argument("--parallel-samples", type=int, default=2_000_000,
                        help="Samples written by the concurrent writers together.")
    parser.add_argument("--no-candidates", action="store_true",
                        help="Store no subset candidates with the inserts (migration 0009) and "
                             "time the subset from samples only.")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the bench databases.")
    parser.add_argument("--skip-vacuum", action="store_true",
                        help="Time the subset after ANALYZE only (no VACUUM ANALYZE round).")
    args = parser.parse_args()
    if args.quick:
        args.old = args.novec = True
        args.sqlite_samples, args.pg_samples, args.files = 200_000, 1_000_000, 20_000
        args.naive_samples, args.orm_rows = 20_000, 5_000
    if args.big:
        args.skip_sqlite = True
        args.pg_samples, args.files = 100_000_000, 2_000_000
        args.naive_samples, args.orm_rows = 0, 0
    results: list[dict] = []
    if not args.skip_sqlite:
        folder = Path(tempfile.mkdtemp(prefix="samplemill-bench-"))
        url = f"sqlite:///{folder / 'bench.sqlite'}"
        engine = create_catalog_engine(url)
        upgrade(engine)
        results.extend(bench([Side("sqlite", engine, candidates=not args.no_candidates)],
                             args.sqlite_samples,
                             max(1, args.sqlite_samples // MEAN_SAMPLES), args))  # fmt: skip
        engine.dispose()
        if not args.keep:
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
    if not args.skip_pg:
        run_pg(args, results)
    summary(results)


if __name__ == "__main__":
    main()

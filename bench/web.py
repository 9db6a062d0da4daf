"""Benchmark the web page in headless Chromium (Debian's, through Playwright).

Run: python -m bench.web [--points 16384] [--targets 100000] [--hovers 24] [--repeat 3]

1. A 16,384-point sample map first drawn after navigation (the page's `map-first-draw`
   performance mark), against a 256-point map in the same process.
2. Hover-to-sound with a cold sample cache: the disk cache is emptied and a fresh page has no
   decoded buffers; each hover's time from the pointer event to the Web Audio source's start
   (the page's `hover-to-sound` measures). Baseline: the same points hovered again on a fresh
   page with the server's cache warm (browser still cold).
3. The jobs page of a 100,000-target job: navigation request start to response end in
   Chromium, against a 100-target job's page in the same process.
Floors (issue 14): 1.5 s, 150 ms, 300 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from core.settings import get_settings, reset_settings
from db.bulk import replace_samples
from db.engine import get_engine, session_scope
from db.models import (
    File,
    Job,
    JobStatus,
    Subset,
    SubsetMember,
    Target,
    TargetStatus,
    TaskRun,
    utcnow,
)
from scheduler.demo import demo_film, write_mp4
from scheduler.web.app import create_app
from tests.web.browser import Server, chromium, wait_js

FLOORS = {"draw": 1.5, "hover": 0.150, "jobs": 0.300}
STYLES = ("melody", "talk", "percussion", "mix")
SPEC = {"name": "bench", "source": {"kind": "local", "folder": "/bench", "patterns": ["*"]},
        "probe": {}, "analyze": {}}


def make_map(engine, films: list[Path], n: int, name: str) -> int:  # type: ignore[no-untyped-def]
    """A job whose subset `name` has n members spread over the films, laid out on a grid."""
    rng = np.random.default_rng(n)
    side = int(np.ceil(np.sqrt(n)))
    with session_scope(engine) as s:
        job = Job(name=f"map-{n}", spec=SPEC, status=JobStatus.DONE)
        s.add(job)
        s.flush()
        per = int(np.ceil(n / len(films)))
        for k, film in enumerate(films):
            f = File(job_id=job.id, key=film.name, name=film.name, path=str(film), duration=60.0,
                     has_audio=True)
            s.add(f)
            s.flush()
            count = min(per, n - k * per)
            starts = np.sort(rng.uniform(0, 59_000, count)).round(1)
            hz = rng.uniform(60, 1500, count)
            replace_samples(s, job_id=job.id, file_id=f.id, vectors=None, columns={
                "start": starts, "dur": rng.uniform(120, 900, count).round(1),
                "power": rng.uniform(0, 1, count), "hz": hz, "note": ["A"] * count,
                "octave": np.full(count, 4), "midi": 69 + 12 * np.log2(hz / 440),
                "clarity": rng.uniform(0, 1, count)})
        subset = Subset(job_id=job.id, name=name, spec={}, members_count=n,
                        layout={"grid": f"{side}x{side}"})
        s.add(subset)
        s.flush()
        from db.read import web as wread

        ids = [x.sample.id for x in wread.sample_sources(s, _sample_ids(s, job.id))]
        cells = rng.permutation(side * side)[:n]
        s.execute(insert(SubsetMember), [
            {"subset_id": subset.id, "position": i, "sample_id": sid, "tsne": i / n,
             "x": float(rng.uniform()), "y": float(rng.uniform()),
             "col": int(cells[i] % side), "row": int(cells[i] // side)}
            for i, sid in enumerate(ids)])
        return job.id


def _sample_ids(session, job_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from db.models import Sample

    return list(session.scalars(select(Sample.id).where(Sample.job_id == job_id)
                                .order_by(Sample.id)))


def make_big_job(engine, targets: int) -> int:  # type: ignore[no-untyped-def]
    """A job with `targets` targets over targets/3 files (checksum, probe, analyze), 1 % failed
    with tracebacks, some running, the rest done or pending."""
    files = targets // 3
    with session_scope(engine) as s:
        job = Job(name=f"big-{targets}", spec=SPEC, status=JobStatus.ACTIVE)
        s.add(job)
        s.flush()
        s.execute(insert(File), [{"job_id": job.id, "key": f"f{i:07d}", "name": f"f{i:07d}.mp4",
                                  "path": f"/nowhere/f{i:07d}.mp4"} for i in range(files)])
        from sqlalchemy import select

        file_ids = list(s.scalars(select(File.id).where(File.job_id == job.id)
                                  .order_by(File.id)))
        now = utcnow()
        rows = []
        for stage, done_share in (("checksum", 1.0), ("probe", 0.8), ("analyze", 0.5)):
            for k, fid in enumerate(file_ids):
                r = (k * 7919) % 1000 / 1000
                status = (TargetStatus.FAILED if r < 0.01 else TargetStatus.DONE
                          if r < done_share else TargetStatus.RUNNING if r < done_share + 0.002
                          else TargetStatus.PENDING)
                # a job three hours in: finished work spread over them, running work recent
                ago = timedelta(seconds=10_800 * (1 - k / files)) if status in (
                    TargetStatus.DONE, TargetStatus.FAILED) else timedelta(seconds=k % 60)
                rows.append({"job_id": job.id, "stage": stage, "key": str(fid), "file_id": fid,
                             "status": status, "attempts": 1,
                             "started_at": now - ago - timedelta(seconds=2)
                             if status != TargetStatus.PENDING else None,
                             "finished_at": now - ago if status in (TargetStatus.DONE,
                                                                    TargetStatus.FAILED) else None,
                             "heartbeat_at": now - ago if status == TargetStatus.RUNNING
                             else None,
                             "error": "MediaError: bench" if status == TargetStatus.FAILED
                             else None})
        for start in range(0, len(rows), 20_000):
            s.execute(insert(Target), rows[start:start + 20_000])
        failed = list(s.scalars(select(Target.id).where(Target.job_id == job.id,
                                                        Target.status == TargetStatus.FAILED)))
        s.execute(insert(TaskRun), [
            {"target_id": t, "job_id": job.id, "stage": "probe", "key": str(t), "attempt": 1,
             "worker": "w", "run_token": f"{t:036d}", "status": TargetStatus.FAILED,
             "started_at": now, "finished_at": now, "error": "MediaError: bench",
             "traceback": "Traceback (most recent call last):\n" + "  frame\n" * 30}
            for t in failed])
        return job.id


SEEN = {"audio": 0, "miss": 0}


def counted(app):  # type: ignore[no-untyped-def]
    """The app, counting the sample-audio requests that reach it and its cache misses."""

    async def wrapper(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http" or not scope["path"].startswith("/media/samples/"):
            return await app(scope, receive, send)
        SEEN["audio"] += 1

        async def watch(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start" and (b"x-cache", b"miss") in \
                    message.get("headers", []):
                SEEN["miss"] += 1
            await send(message)

        return await app(scope, receive, watch)

    return wrapper


def first_draw(page, url: str) -> float:  # type: ignore[no-untyped-def]
    page.goto(url)
    wait_js(page, "window.sampleMap && (window.sampleMap.ready || window.sampleMap.error)")
    assert page.evaluate("window.sampleMap.ready"), page.evaluate("window.sampleMap.error")
    return page.evaluate("performance.getEntriesByName('map-first-draw')[0].startTime") / 1000


def hover_latencies(page, url: str, hovers: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Hover `hovers` distinct points (fresh page: no decoded buffers, the browser's HTTP
    cache off) and return each hover's time to sound (s)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.clearBrowserCache")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    before = dict(SEEN)
    page.goto(url)
    wait_js(page, "window.sampleMap && window.sampleMap.ready")
    page.click("#sound")
    wait_js(page, "window.sampleMap.ctxState() === 'running'")
    n = page.evaluate("window.sampleMap.points")
    rng = np.random.default_rng(1)
    chosen, seen = [], set()
    for i in rng.permutation(n):
        p = page.evaluate(f"window.sampleMap.screenOf({int(i)}, 'grid')")
        key = (round(p["x"]), round(p["y"]))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(p)
        if len(chosen) == hovers:
            break
    for k, p in enumerate(chosen, 1):
        page.mouse.move(p["x"], p["y"])
        wait_js(page, f"window.sampleMap.played + window.sampleMap.errors >= {k}", 10_000)
        page.wait_for_timeout(30)
    assert page.evaluate("window.sampleMap.errors") == 0
    latencies = [v / 1000 for v in page.evaluate("window.sampleMap.latencies")]
    print(f"  {len(latencies)} hovers: {SEEN['audio'] - before['audio']} audio requests reached "
          f"the server, {SEEN['miss'] - before['miss']} decoded there (cache misses)")
    return latencies


def nav_time(page, url: str) -> float:  # type: ignore[no-untyped-def]
    page.goto(url)
    nav = page.evaluate("JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0]))")
    return (nav["responseEnd"] - nav["requestStart"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16384)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--hovers", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, help="save the pages' screenshots here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="samplemill-bench-web-"))
    os.environ["SAMPLEMILL_DATA_DIR"] = str(root / "data")
    os.environ["SAMPLEMILL_CATALOG_URL"] = f"sqlite:///{root / 'data' / 'catalog.sqlite'}"
    reset_settings()
    settings = get_settings()
    engine = get_engine(settings.resolved_catalog_url)
    films = []
    for i, style in enumerate(STYLES * 2):
        path = root / "data" / "media" / f"{style}-{i}.mp4"
        write_mp4(path, demo_film(60.0, style, seed=i))
        films.append(path)
    t = time.perf_counter()
    big = make_map(engine, films, args.points, "main")
    small = make_map(engine, films, 256, "main")
    print(f"maps built in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    huge = make_big_job(engine, args.targets)
    tiny = make_big_job(engine, 102)
    print(f"jobs of {args.targets} and 102 targets built in {time.perf_counter() - t:.1f} s")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    cache = Path(settings.data_dir) / "web-cache"
    with Server(counted(create_app(settings))) as server, chromium() as browser:
        base = server.url
        draws: dict[int, list[float]] = {big: [], small: []}
        for _ in range(args.repeat):
            for job in (small, big):
                page = browser.new_page()
                cdp = browser.new_cdp_session(page)
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                draws[job].append(first_draw(page, f"{base}/jobs/{job}/map/main"))
                if args.screenshots and job == big:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshots / "map-16k.png"))
                page.close()
        d_big, d_small = min(draws[big]), min(draws[small])
        print(f"map first drawn: {args.points} points {d_big:.3f} s (runs "
              f"{', '.join(f'{v:.3f}' for v in draws[big])}); 256 points {d_small:.3f} s; "
              f"ratio {d_big / d_small:.2f}  [floor {FLOORS['draw']} s]")
        cold_runs, warm_runs = [], []
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            page = browser.new_page()
            cold_runs.append(hover_latencies(page, f"{base}/jobs/{big}/map/main", args.hovers))
            page.close()
            page = browser.new_page()  # same points: server cache warm, browser cold
            warm_runs.append(hover_latencies(page, f"{base}/jobs/{big}/map/main", args.hovers))
            page.close()
        best = min(cold_runs, key=statistics.median)
        warm = min(warm_runs, key=statistics.median)
        print(f"hover-to-sound, cold cache: median {statistics.median(best) * 1000:.1f} ms, "
              f"p90 {np.percentile(best, 90) * 1000:.1f} ms, max {max(best) * 1000:.1f} ms over "
              f"{len(best)} hovers (medians of runs: "
              f"{', '.join(f'{statistics.median(r) * 1000:.1f}' for r in cold_runs)} ms); "
              f"server cache warm: median {statistics.median(warm) * 1000:.1f} ms; ratio "
              f"{statistics.median(best) / statistics.median(warm):.2f}  "
              f"[floor {FLOORS['hover'] * 1000:.0f} ms]")
        times: dict[int, list[float]] = {huge: [], tiny: []}
        page = browser.new_page()
        for _ in range(args.repeat + 2):
            for job in (tiny, huge):
                times[job].append(nav_time(page, f"{base}/jobs/{job}"))
        if args.screenshots:
            page.screenshot(path=str(args.screenshots / "job-100k.png"))
        t_list = [nav_time(page, f"{base}/jobs") for _ in range(args.repeat)]
        h, s = min(times[huge]), min(times[tiny])
        print(f"jobs page of {args.targets} targets: {h * 1000:.0f} ms best, median "
              f"{statistics.median(times[huge]) * 1000:.0f} ms; 102 targets {s * 1000:.0f} ms; "
              f"ratio {h / s:.2f}; jobs list {min(t_list) * 1000:.0f} ms  "
              f"[floor {FLOORS['jobs'] * 1000:.0f} ms]")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    ok = (d_big <= FLOORS["draw"] and statistics.median(best) <= FLOORS["hover"]
          and h <= FLOORS["jobs"])
    print("floors met" if ok else "a floor was missed")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The web app in a real Chromium on a job made by real workers: generated films analysed,
selected and laid out (one file is corrupt, so a target fails). Each page opens; hovering a
map point fetches and plays its audio (Web Audio); a bad query shows its caret; a failed
target retried from the page runs and the page sees it done."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from core.settings import Settings
from scheduler.demo import demo_film, write_mp4
from scheduler.run import run_job
from scheduler.web.app import create_app
from tests.mediagen import write_garbage
from tests.pipeline_harness import REPO, configure
from tests.web.browser import Server, chromium, chromium_or_skip, wait_js

JOB = """
name = "webjob"
[source]
kind = "local"
folder = "{folder}"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "main"
ffilter = "dur>=100"
fsort = "power=desc"
flim = 30
lim = 100
[[layout]]
subset = "main"
perplexity = 10
grid = "8x8"
"""


@dataclass
class RealJob:
    settings: Settings
    job_id: int
    job_file: Path
    broken: Path
    server: Server
    shots: Path


@pytest.fixture(scope="module")
def real_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealJob]:
    chromium_or_skip()
    root = tmp_path_factory.mktemp("webjob")
    with pytest.MonkeyPatch.context() as mp:
        settings = configure(mp, root)
        folder = root / "films"
        for i, style in enumerate(("melody", "talk", "percussion", "mix")):
            write_mp4(folder / f"{style}.mp4", demo_film(10.0, style, seed=i))
        broken = write_garbage(folder / "zz-broken.mp4", 8192, seed=1)
        job_file = root / "webjob.toml"
        job_file.write_text(JOB.format(folder=folder))
        outcome = run_job(job_file, settings, console=Console(file=io.StringIO()))
        assert len(outcome.failures) == 1, outcome.failures
        shots = Path(os.environ.get("SAMPLEMILL_WEB_SCREENSHOTS") or root / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        with Server(create_app(settings)) as server:
            yield RealJob(settings, outcome.job_id, job_file, broken, server, shots)


@pytest.fixture(scope="module")
def browser(real_job: RealJob) -> Iterator:
    with chromium() as context:
        yield context


def shot(page, real_job: RealJob, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = real_job.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_each_page_opens(real_job: RealJob, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    base, job = real_job.server.url, real_job.job_id
    page.goto(f"{base}/jobs")
    assert page.locator(f'tr[data-job="{job}"] [data-f="failed"]').inner_text() == "1"
    shot(page, real_job, "jobs")
    page.goto(f"{base}/jobs/{job}")
    assert page.locator('#stages tr[data-stage="analyze"] [data-f="done"]').inner_text() == "4"
    # the broken file's analysis was never made: blocked, not pending
    assert page.locator('#stages tr[data-stage="analyze"] [data-f="blocked"]').inner_text() == "1"
    assert page.locator("#failures tbody tr").count() == 1
    assert "zz-broken.mp4" in page.locator("#failures").inner_text()
    page.locator("#failures details summary").click()
    assert "Traceback" in page.locator("#failures details pre").inner_text()
    picture = page.locator("figure.output img")
    assert picture.count() == 1
    assert page.evaluate("(img) => img.naturalWidth", picture.element_handle()) > 100
    shot(page, real_job, "job")
    page.goto(f"{base}/queue")
    assert "embedded broker is not running" in page.locator("#broker-error").inner_text()
    shot(page, real_job, "queue")
    page.goto(f"{base}/catalog?scope=files&job={job}&sort=filename%3Dasc")
    assert page.locator("#results tbody tr").count() == 5
    shot(page, real_job, "catalog")
    page.locator("#results tbody tr").first.locator("a").first.click()
    wait_js(page, "window.fileWave && window.fileWave.ready")
    assert page.evaluate("window.fileWave.samples") > 3
    shot(page, real_job, "file")
    assert errors == []


def test_bad_query_shows_the_caret(real_job: RealJob, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{real_job.server.url}/catalog")
    page.fill("#where", "clarity>0.5&pwer>0.1")
    page.click("#run-query")
    error = page.locator("#query-error")
    error.wait_for()
    assert "pwer" in error.inner_text()
    assert page.locator("pre.caret .hat").inner_text() == " " * 12 + "^^^^"
    shot(page, real_job, "catalog-error")
    page.fill("#where", "clarity>0.5")
    page.click("#run-query")
    assert page.locator("#results tbody tr").count() > 0


def test_map_hover_plays_and_packs(real_job: RealJob, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{real_job.server.url}/jobs/{real_job.job_id}/map/main")
    wait_js(page, "window.sampleMap && window.sampleMap.ready")
    n = page.evaluate("window.sampleMap.points")
    assert 64 < n <= 100
    page.click("#sound")
    wait_js(page, "window.sampleMap.ctxState() === 'running'")
    spot = page.evaluate("window.sampleMap.screenOf(5, 'tsne')")
    page.mouse.move(spot["x"], spot["y"])
    wait_js(page, "window.sampleMap.played >= 1", 10_000)
    played = page.evaluate("window.sampleMap.lastPlayedId")
    assert any(u.endswith(f"/media/samples/{played}.opus") for u in requests)
    assert page.evaluate("window.sampleMap.indexOf(window.sampleMap.lastPlayedId)") >= 0
    wait_js(page, "window.sampleMap.ended >= 1", 10_000)  # it really played
    shot(page, real_job, "map")
    # the same point does not re-trigger at once; the grid view plays another
    page.mouse.move(spot["x"] + 0.5, spot["y"])
    cell = page.evaluate("window.sampleMap.screenOf(40, 'grid')")
    page.mouse.move(cell["x"], cell["y"])
    wait_js(page, "window.sampleMap.played >= 2", 10_000)
    assert page.evaluate("window.sampleMap.errors") == 0
    # several voices at once, never more than asked for; the length cap cuts a voice short
    long = page.evaluate(f"[...Array({n}).keys()].filter(i => window.sampleMap.valueOf('dur', i)"
                         " >= 600)")
    assert len(long) >= 5
    page.fill("#voices", "2")
    page.locator("#cap").fill("2000")
    most = 0
    for i in long[:4]:
        before = page.evaluate("window.sampleMap.played")
        p = page.evaluate(f"window.sampleMap.screenOf({i}, 'grid')")
        page.mouse.move(p["x"], p["y"])
        wait_js(page, f"window.sampleMap.played + window.sampleMap.errors > {before}")
        most = max(most, page.evaluate("window.sampleMap.active"))
    assert most == 2, "two voices sound together, and no more"
    wait_js(page, "window.sampleMap.active === 0", 5_000)
    page.locator("#cap").fill("100")
    before = page.evaluate("window.sampleMap.played")
    p = page.evaluate(f"window.sampleMap.screenOf({long[4]}, 'grid')")
    page.mouse.move(p["x"], p["y"])
    wait_js(page, f"window.sampleMap.played > {before}")
    page.wait_for_timeout(350)
    assert page.evaluate("window.sampleMap.active") == 0, "a 600+ ms sample stopped at 100 ms"
    # a filter leaves out points: they neither draw in colour nor play
    page.select_option("#filter-feature", "power")
    page.fill("#filter-lo", "2")  # power is 0-1: nothing passes
    assert page.locator("#map-status").inner_text().startswith("0 of ")
    played = page.evaluate("window.sampleMap.played")
    p = page.evaluate("window.sampleMap.screenOf(30, 'grid')")
    page.mouse.move(p["x"], p["y"])
    page.wait_for_timeout(400)
    assert page.evaluate("window.sampleMap.played") == played
    page.fill("#filter-lo", "")
    assert " of " not in page.locator("#map-status").inner_text() or \
        page.locator("#map-status").inner_text().startswith(f"{n} of ")
    # zoom in over the t-SNE view, then click to select and open the source in context
    page.mouse.move(spot["x"], spot["y"])
    page.mouse.wheel(0, -400)
    spot = page.evaluate("window.sampleMap.screenOf(5, 'tsne')")
    page.mouse.click(spot["x"], spot["y"])
    page.locator("#info").wait_for()
    page.click("#play-context")
    wait_js(page, "window.sampleMap.contextPlayed >= 1", 10_000)
    # collect two samples (shift-click) and download the pack
    page.keyboard.down("Shift")
    for i in (5, 17):
        p = page.evaluate(f"window.sampleMap.screenOf({i}, 'grid')")
        page.mouse.click(p["x"], p["y"])
    page.keyboard.up("Shift")
    ids = page.evaluate("window.sampleMap.collected()")
    assert len(ids) == 2
    shot(page, real_job, "map-collected")
    with page.expect_download() as download:
        page.click("#download-pack")
    zf = zipfile.ZipFile(download.value.path())
    names = zf.namelist()
    assert "manifest.csv" in names and sum(n.endswith(".wav") for n in names) == 2
    assert [str(i) for i in ids] == [line.split(",")[1] for line in
                                     zf.read("manifest.csv").decode().splitlines()[1:]]
    href = page.get_attribute("#open-file", "href")
    page.goto(real_job.server.url + href)
    wait_js(page, "window.fileWave && window.fileWave.ready")


def test_retry_a_failed_target_and_see_it_run(real_job: RealJob, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{real_job.server.url}/jobs/{real_job.job_id}")
    write_mp4(real_job.broken, demo_film(6.0, "melody", seed=9))  # the cause, fixed
    page.locator("#failures button.retry-one").click()
    notice = page.locator("#notice")
    notice.wait_for()
    assert "re-queued 1" in notice.inner_text()
    assert page.locator("#job-status").inner_text() == "active"
    run = subprocess.run([sys.executable, "-c", "from scheduler.cli import main; main()",
                          "run", str(real_job.job_file)], cwd=REPO, capture_output=True,
                         text=True, timeout=300, env=os.environ.copy())
    assert run.returncode == 0, run.stdout + run.stderr
    # the page refreshes itself: the failure is gone and the job done
    wait_js(page, "document.getElementById('job-status').textContent === 'done'", 20_000)
    page.locator("#no-failures").wait_for(timeout=20_000)
    probe = page.locator('#stages tr[data-stage="probe"]')
    assert probe.locator('[data-f="done"]').inner_text() == "5"
    assert probe.locator('[data-f="failed"]').inner_text() == "0"
    analyze = page.locator('#stages tr[data-stage="analyze"]')
    assert analyze.locator('[data-f="done"]').inner_text() == "5"
    assert analyze.locator('[data-f="blocked"]').inner_text() == "0"
    shot(page, real_job, "job-retried")

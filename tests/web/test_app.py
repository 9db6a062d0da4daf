"""The web app through its ASGI interface: every route, bad ids, path attacks, actions with
their CSRF and token checks, on a real SQLite catalog with real media files."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import zipfile

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from db.engine import session_scope
from db.models import Job, Sample, SubsetMember, Target, TargetStatus
from scheduler.web.app import create_app
from tests.pipeline_harness import catalog
from tests.web.conftest import BASE, csrf_of
from tests.web.webcatalog import TRACEBACK, WebCatalog


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float audio and its rate from encoded bytes."""
    with av.open(io.BytesIO(data)) as c:
        rate = c.streams.audio[0].rate
        frames = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
    return np.concatenate(frames), rate


def dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)])


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_list_and_api(client: TestClient, webcat: WebCatalog) -> None:
    page = client.get("/jobs")
    assert page.status_code == 200
    assert f'href="/jobs/{webcat.job_id}"' in page.text and "webtest" in page.text
    rows = client.get("/api/jobs").json()
    assert [(r["id"], r["status"], r["total"], r["failed"]) for r in rows] == [
        (webcat.job_id, "failed", 2, 1)]
    assert client.get("/", follow_redirects=False).headers["location"] == "/jobs"


def test_job_page_shows_stages_failures_outputs(client: TestClient, webcat: WebCatalog) -> None:
    page = client.get(f"/jobs/{webcat.job_id}").text
    assert 'data-stage="probe"' in page
    assert "MediaError: outside.mp4: decoding failed" in page
    assert "core.errors.MediaError" in page, "the traceback is shown"
    assert f'<img src="/media/artifacts/{webcat.artifacts["picture"]}"' in page
    assert f'<audio controls preload="none" src="/media/artifacts/{webcat.artifacts["audio"]}"' \
        in page
    assert f'href="/jobs/{webcat.job_id}/map/main"' in page
    data = client.get(f"/api/jobs/{webcat.job_id}").json()
    probe = next(s for s in data["stages"] if s["stage"] == "probe")
    assert (probe["done"], probe["failed"], probe["total"]) == (1, 1, 2)
    assert data["failed"] == 1 and data["failures"][0]["traceback"] == TRACEBACK
    assert data["failures"][0]["target_id"] == webcat.failed_target


@pytest.mark.parametrize("url", [
    "/jobs/999", "/api/jobs/999", "/jobs/abc", "/jobs/-1", "/jobs/99999999999999999999999",
    "/files/999", "/api/samples/999", "/media/samples/999.opus", "/media/samples/1.mp3",
    "/media/artifacts/999", "/media/files/999", "/api/files/999/waveform",
    "/jobs/1/map/nosuch", "/api/jobs/1/subsets/nosuch/points", "/api/jobs/999/subsets/main/points",
])
def test_bad_ids_are_404(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404, (url, r.status_code, r.text[:200])
    assert "Traceback" not in r.text


def test_missing_job_names_it(client: TestClient) -> None:
    assert "no job 999" in client.get("/jobs/999").text
    assert client.get("/api/jobs/999").json() == {"error": "no job 999"}
    assert client.get("/api/jobs/1/subsets/nosuch/points").json() == {
        "error": "job 1 has no subset named 'nosuch'; it has: main"}


# --- actions --------------------------------------------------------------------------------


def _status(client: TestClient, webcat: WebCatalog) -> tuple[str, str, int]:
    engine = client.app.state.web.engine  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        job = s.get(Job, webcat.job_id)
        target = s.get(Target, webcat.failed_target)
        assert job is not None and target is not None
        return job.status, target.status, target.attempts


def test_retry_needs_csrf_and_same_origin(client: TestClient, webcat: WebCatalog) -> None:
    url = f"/jobs/{webcat.job_id}/retry"
    assert client.post(url).status_code == 403
    assert client.post(url, data={"csrf": "wrong"}).status_code == 403
    token = csrf_of(client)
    evil = client.post(url, data={"csrf": token}, headers={"origin": "http://evil.example"})
    assert evil.status_code == 403
    cross = client.post(url, data={"csrf": token}, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    assert _status(client, webcat) == ("failed", "failed", 3), "refused actions change nothing"


def test_retry_requeues_the_failed_target(client: TestClient, webcat: WebCatalog) -> None:
    token = csrf_of(client)
    r = client.post(f"/jobs/{webcat.job_id}/retry", data={"csrf": token},
                    headers={"origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and "re-queued%201" in r.headers["location"]
    assert _status(client, webcat) == ("active", "pending", 0)
    again = client.post(f"/jobs/{webcat.job_id}/retry", headers={"x-csrf-token": token,
                                                                 "accept": "application/json"})
    assert again.json()["retried"] == 0


def test_retry_one_target_and_unknown_target(client: TestClient, webcat: WebCatalog) -> None:
    token = csrf_of(client)
    url = f"/jobs/{webcat.job_id}/retry"
    bad = client.post(url, data={"csrf": token, "target": "12345"})
    assert bad.status_code == 404 and "no failed target 12345" in bad.text
    assert client.post(url, data={"csrf": token, "target": "x"}).status_code == 400
    ok = client.post(url, data={"csrf": token, "target": str(webcat.failed_target)},
                     headers={"accept": "application/json"})
    assert ok.json()["retried"] == 1


def test_cancel_and_resume(client: TestClient, webcat: WebCatalog) -> None:
    token = csrf_of(client)
    headers = {"x-csrf-token": token, "accept": "application/json"}
    assert client.post(f"/jobs/{webcat.job_id}/cancel", headers=headers).json()["changed"] is False
    client.post(f"/jobs/{webcat.job_id}/retry", headers=headers)
    assert client.post(f"/jobs/{webcat.job_id}/cancel", headers=headers).json()["changed"]
    assert _status(client, webcat)[0] == "cancelled"
    assert client.post(f"/jobs/{webcat.job_id}/resume", headers=headers).json()["changed"]
    assert _status(client, webcat)[0] == "active"
    assert client.post("/jobs/999/cancel", headers=headers).status_code == 404
    assert client.get(f"/jobs/{webcat.job_id}/cancel").status_code == 405


def test_token_when_bound_beyond_localhost(web_settings, webcat: WebCatalog) -> None:  # type: ignore[no-untyped-def]
    app = create_app(web_settings, host="0.0.0.0", token="s3cret-token")
    with TestClient(app, base_url="http://192.0.2.10:8080") as c:
        token = csrf_of(c)
        url = f"/jobs/{webcat.job_id}/retry"
        refused = c.post(url, data={"csrf": token})
        assert refused.status_code == 401 and "token" in refused.text
        assert c.get("/login?token=wrong").status_code == 401
        login = c.get("/login?token=s3cret-token", follow_redirects=False)
        assert login.status_code == 303
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        assert c.post(url, data={"csrf": token}, follow_redirects=False).status_code == 303
    bearer = create_app(web_settings, host="0.0.0.0", token="s3cret-token")
    with TestClient(bearer, base_url="http://192.0.2.10:8080") as c:
        r = c.post(f"/jobs/{webcat.job_id}/cancel",
                   headers={"authorization": "Bearer s3cret-token", "x-csrf-token": csrf_of(c)})
        assert r.status_code in (200, 303)


def test_generated_token_when_none_is_set(web_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(web_settings, host="0.0.0.0")
    assert app.state.token and len(app.state.token) >= 24
    assert create_app(web_settings, host="127.0.0.1").state.token is None


def test_loopback_answers_only_to_local_host_names(client: TestClient) -> None:
    assert client.get("/jobs", headers={"host": "evil.example"}).status_code == 421
    assert client.get("/jobs", headers={"host": "localhost:8080"}).status_code == 200
    assert client.get("/jobs", headers={"host": "[::1]:8080"}).status_code == 200


def test_security_headers(client: TestClient) -> None:
    r = client.get("/jobs")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


# --- media ----------------------------------------------------------------------------------


def test_sample_audio_is_its_range_and_cached(client: TestClient, webcat: WebCatalog) -> None:
    for i in (2, 7):
        sid = webcat.samples[i]
        r = client.get(f"/media/samples/{sid}.wav")
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.headers["x-cache"] == "miss" and "max-age" in r.headers["cache-control"]
        audio, rate = decode(r.content)
        assert len(audio) / rate == pytest.approx(webcat.durs[i] / 1000, abs=0.002)
        assert dominant_hz(audio, rate) == pytest.approx(webcat.f0[i], rel=0.03), \
            "the decoded range is this sample's tone"
        again = client.get(f"/media/samples/{sid}.wav")
        assert again.headers["x-cache"] == "hit" and again.content == r.content
        etag = r.headers["etag"]
        assert client.get(f"/media/samples/{sid}.wav",
                          headers={"if-none-match": etag}).status_code == 304
    opus = client.get(f"/media/samples/{webcat.samples[4]}.opus")
    assert opus.headers["content-type"] == "audio/ogg" and opus.content[:4] == b"OggS"
    audio, rate = decode(opus.content)
    assert rate == 48000 and len(audio) / rate == pytest.approx(webcat.durs[4] / 1000, abs=0.01)
    wav = client.get(f"/media/samples/{webcat.samples[4]}.wav").content
    assert len(opus.content) < len(wav) / 4, "opus is the small one"
    assert dominant_hz(audio, rate) == pytest.approx(webcat.f0[4], rel=0.03)


def test_context_audio_surrounds_the_sample(client: TestClient, webcat: WebCatalog) -> None:
    i = 6
    r = client.get(f"/media/samples/{webcat.samples[i]}/context.wav")
    audio, rate = decode(r.content)
    start = max(0.0, webcat.starts[i] - 2500)
    assert len(audio) / rate == pytest.approx((webcat.starts[i] + webcat.durs[i] + 2500 - start)
                                              / 1000, abs=0.002)


def test_sample_of_a_file_outside_is_heard_but_not_served_raw(
        client: TestClient, webcat: WebCatalog) -> None:
    engine = client.app.state.web.engine  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        sid = s.scalar(select(Sample.id).where(Sample.file_id == webcat.outside_file).limit(1))
    assert client.get(f"/media/samples/{sid}.opus").status_code == 200
    assert client.get(f"/media/files/{webcat.outside_file}").status_code == 404
    inside = client.get(f"/media/files/{webcat.inside_file}", headers={"range": "bytes=0-11"})
    assert inside.status_code == 206 and inside.content[:4] == b"RIFF" and len(inside.content) == 12


def test_waveform(client: TestClient, webcat: WebCatalog) -> None:
    r = client.get(f"/api/files/{webcat.inside_file}/waveform")
    peaks = r.json()
    assert peaks["duration"] == pytest.approx(webcat.starts[-1] / 1000 + 0.9, abs=0.7)
    assert max(peaks["high"]) > 0.3 and min(peaks["low"]) < -0.3 and len(peaks["low"]) > 50
    assert client.get(f"/api/files/{webcat.inside_file}/waveform").headers["x-cache"] == "hit"


def test_artifacts_inside_only(client: TestClient, webcat: WebCatalog) -> None:
    a = webcat.artifacts
    png = client.get(f"/media/artifacts/{a['picture']}")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.headers["content-type"] == "image/png"
    assert client.get(f"/media/artifacts/{a['audio']}").content[:4] == b"RIFF"
    for name in ("dotdot", "symlink", "absolute", "missing"):
        r = client.get(f"/media/artifacts/{a[name]}")
        assert r.status_code == 404, name
        assert "root:" not in r.text


@pytest.mark.parametrize("url", [
    "/media/artifacts/..%2F..%2F..%2Fetc%2Fpasswd",
    "/media/artifacts/1%2F..%2F..%2Fsecret.txt",
    "/media/artifacts/%2e%2e/%2e%2e/etc/passwd",
    "/media/files/..%2f..%2fetc%2fpasswd",
    "/media/samples/1%2F..%2F..%2Fetc%2Fpasswd.wav",
    "/static/..%2F..%2Fweb%2Fapp.py",
    "/static/%2e%2e/app.py",
    "/static/../app.py",
    "/static/..%5c..%5capp.py",
    "/media/artifacts/1/../../../../etc/passwd",
])
def test_path_attacks(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code in (400, 404), (url, r.status_code)
    assert "root:" not in r.text and "create_app" not in r.text


def test_static_files_install_and_serve(client: TestClient) -> None:
    assert "sampleMap" in client.get("/static/map.js").text
    assert client.get("/static/app.css").status_code == 200


# --- catalog --------------------------------------------------------------------------------


def test_catalog_query_sort_and_pages(client: TestClient, webcat: WebCatalog) -> None:
    r = client.get("/api/catalog", params={"scope": "samples", "job": webcat.job_id,
                                           "where": "power>0.5", "sort": "power=desc",
                                           "size": 25})
    data = r.json()
    power = data["columns"].index("power")
    values = [row[power] for row in data["rows"]]
    assert values and all(v > 0.5 for v in values) and values == sorted(values, reverse=True)
    page = client.get("/catalog", params={"scope": "samples", "size": 25}).text
    assert 'id="next"' not in page, "16 samples fit one page"
    first = client.get("/api/catalog", params={"scope": "samples", "size": 25}).json()
    second = client.get("/api/catalog", params={"scope": "samples", "size": 25,
                                                "offset": 10}).json()
    assert first["rows"][10:] == second["rows"]
    html = client.get("/catalog", params={"scope": "samples", "sort": "power=asc"}).text
    assert "power=desc" in html and "▲" in html, "the sorted column's header toggles"


def test_catalog_bad_query_shows_caret(client: TestClient) -> None:
    r = client.get("/catalog", params={"scope": "samples", "where": "clarity>0.5&powr>1"})
    assert r.status_code == 400
    assert "unknown" in r.text and "powr" in r.text
    caret = re.search(r'<span class="hat">( *\^+)</span>', r.text)
    assert caret and caret.group(1) == " " * len("clarity>0.5&") + "^" * len("powr")
    api = client.get("/api/catalog", params={"where": "power>>1"}).json()
    assert api["error"]["position"] == len("power>")
    assert client.get("/catalog", params={"scope": "nope"}).status_code == 400
    assert client.get("/catalog", params={"job": "x"}).status_code == 400
    assert client.get("/catalog", params={"where": "1;DROP TABLE samples"}).status_code == 400
    assert client.get("/api/catalog").json()["rows"], "the table is still there"


def test_downloads_csv_and_parquet(client: TestClient, webcat: WebCatalog) -> None:
    params = {"scope": "samples", "where": "power>0.3", "sort": "start=asc"}
    body = client.get("/catalog.csv", params=params)
    assert body.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.text)))
    expected = client.get("/api/catalog", params={**params, "size": 500}).json()
    assert len(rows) == len(expected["rows"]) > 0
    assert all(float(r["power"]) > 0.3 for r in rows)
    pq_body = client.get("/catalog.parquet", params={"scope": "files", "sort": "id=asc"})
    table = pq.read_table(io.BytesIO(pq_body.content))
    assert table.num_rows == 2 and "filename" in table.column_names
    bad = client.get("/catalog.csv", params={"where": "powr>1"})
    assert bad.status_code == 400 and bad.json()["error"]["caret"] == "^^^^"


def test_file_page(client: TestClient, webcat: WebCatalog) -> None:
    page = client.get(f"/files/{webcat.inside_file}").text
    assert "tones.wav" in page and "pcm_s16le" in page and "tones_1950" in page
    assert "https://archive.org/details/tones_1950" in page
    assert page.count('class="play small"') == len(webcat.samples)
    data = client.get(f"/api/files/{webcat.inside_file}/samples").json()
    assert data["id"] == webcat.samples


# --- sample map and packs -------------------------------------------------------------------


def parse_points(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The map payload read the way map.js reads it."""
    assert payload[:4] == b"SMP1"
    (hlen,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8:8 + hlen])
    base = 8 + hlen
    assert base % 8 == 0
    kinds = {"f32": "<f4", "f64": "<f8", "i32": "<i4"}
    cols = {c["name"]: np.frombuffer(payload, kinds[c["type"]], c["length"], base + c["offset"])
            for c in header["columns"]}
    return header, cols


def test_map_page_and_points(client: TestClient, webcat: WebCatalog) -> None:
    page = client.get(f"/jobs/{webcat.job_id}/map/main")
    assert page.status_code == 200 and 'id="tsne"' in page.text and 'id="grid"' in page.text
    r = client.get(f"/api/jobs/{webcat.job_id}/subsets/main/points")
    header, cols = parse_points(r.content)
    assert header["n"] == len(webcat.samples) and header["grid"] == "4x4"
    assert cols["id"].astype(int).tolist() == webcat.samples
    assert set(cols["col"].tolist()) == {0, 1, 2, 3}
    assert ((cols["x"] > 0) & (cols["x"] < 1)).all()
    assert np.allclose(cols["hz"], webcat.f0, rtol=1e-5)
    assert header["files"] == [webcat.inside_file]
    cached = client.get(f"/api/jobs/{webcat.job_id}/subsets/main/points",
                        headers={"if-none-match": r.headers["etag"]})
    assert cached.status_code == 304
    assert client.get(f"/api/jobs/{webcat.job_id}/subsets/main/points").headers["x-cache"] == "hit"
    engine = client.app.state.web.engine  # type: ignore[attr-defined]
    with session_scope(engine) as s:  # a new layout moves a point: never the stale map
        s.execute(update(SubsetMember).where(SubsetMember.sample_id == webcat.samples[0])
                  .values(x=0.5, y=0.25))
    moved = client.get(f"/api/jobs/{webcat.job_id}/subsets/main/points",
                       headers={"if-none-match": r.headers["etag"]})
    assert moved.status_code == 200 and moved.headers["etag"] != r.headers["etag"]
    assert parse_points(moved.content)[1]["x"][0] == 0.5
    info = client.get(f"/api/samples/{webcat.samples[3]}").json()
    assert info["file_url"] == f"/files/{webcat.inside_file}?t={webcat.starts[3] / 1000:.3f}"
    assert info["archive_url"].startswith("https://archive.org/details/tones_1950?start=")


def test_sample_pack(client: TestClient, webcat: WebCatalog) -> None:
    chosen = [webcat.samples[5], webcat.samples[1], webcat.samples[9]]
    r = client.get("/pack.zip", params={"ids": ",".join(map(str, chosen))})
    assert r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    assert [int(m["id"]) for m in manifest] == chosen
    for m, index in zip(manifest, (5, 1, 9), strict=True):
        audio, rate = decode(zf.read(m["file"]))
        assert len(audio) / rate == pytest.approx(webcat.durs[index] / 1000, abs=0.002)
        assert float(m["hz"]) == pytest.approx(webcat.f0[index])
        assert m["source_file"] == "tones.wav" and m["item"] == "tones_1950"
    assert client.get("/pack.zip").status_code == 400
    assert client.get("/pack.zip", params={"ids": "1,x"}).status_code == 400
    assert client.get("/pack.zip", params={"ids": "999999"}).status_code == 404
    many = ",".join(str(i) for i in range(1, 600))
    assert client.get("/pack.zip", params={"ids": many}).status_code == 400


# --- queue ----------------------------------------------------------------------------------


def test_queue_without_broker_says_why(client: TestClient) -> None:
    r = client.get("/api/queue").json()
    assert r["reachable"] is False and "embedded broker is not running" in r["error"]
    page = client.get("/queue")
    assert page.status_code == 200 and "Traceback" not in page.text
    assert "unreachable" in page.text


def test_queue_on_real_redis(redis_url: str, tmp_path, monkeypatch, webcat) -> None:  # type: ignore[no-untyped-def]
    import redis
    from sqlalchemy.engine import make_url

    from tests.pipeline_harness import configure

    # a database of our own on the test server: other tests' workers use the usual one
    url = make_url(redis_url).set(database="11").render_as_string(hide_password=False)
    client = redis.Redis.from_url(url)
    client.flushdb()
    settings = configure(monkeypatch, tmp_path, broker_url=url,
                         flower_url="http://127.0.0.1:5555")
    client.rpush("cpu", "x", "y")
    with TestClient(create_app(settings), base_url=BASE) as c:
        data = c.get("/api/queue").json()
        assert data["reachable"] is True, data
        assert data["queues"]["cpu"] == 2, data
        assert data["workers"] == [] and data["flower"] == "http://127.0.0.1:5555", data
        page = c.get("/queue").text
        assert 'id="flower-link"' in page and 'data-queue="cpu"' in page


def test_web_command_help() -> None:
    from click.testing import CliRunner

    from scheduler.cli import main

    out = CliRunner().invoke(main, ["web", "--help"])
    assert out.exit_code == 0 and "--host" in out.output and "--port" in out.output
    bad = CliRunner().invoke(main, ["web", "--port", "99999"])
    assert bad.exit_code == 2


def test_web_command_never_creates_a_catalog(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from core.settings import reset_settings
    from scheduler.cli import main

    monkeypatch.setenv("SAMPLEMILL_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.delenv("SAMPLEMILL_CATALOG_URL", raising=False)
    reset_settings()
    out = CliRunner().invoke(main, ["web", "--port", "1"])
    assert out.exit_code == 2 and "no samplemill catalog at" in out.output
    assert "Traceback" not in out.output and not (tmp_path / "nothing").exists()
    reset_settings()


def test_catalog_engine_is_the_settings_one(client: TestClient, web_settings) -> None:  # type: ignore[no-untyped-def]
    assert client.app.state.web.engine is catalog(web_settings)  # type: ignore[attr-defined]
    assert TargetStatus.FAILED == "failed"


def test_delete_job(client: TestClient, webcat: WebCatalog, web_settings) -> None:  # type: ignore[no-untyped-def]
    url = f"/jobs/{webcat.job_id}/delete"
    assert client.post(url).status_code == 403
    out = web_settings.job_output_dir(webcat.job_id)
    assert out.is_dir()
    r = client.post(url, data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs?notice=deleted")
    assert client.get(f"/jobs/{webcat.job_id}").status_code == 404
    assert not out.exists(), "its outputs folder goes"
    assert webcat.inside_path.is_file(), "downloaded media stay"
    assert client.get(f"/media/samples/{webcat.samples[0]}.wav").status_code == 404
    assert "deleted job" in client.get(r.headers["location"]).text


def test_retry_unknown_stage(client: TestClient, webcat: WebCatalog) -> None:
    r = client.post(f"/jobs/{webcat.job_id}/retry", data={"csrf": csrf_of(client),
                                                          "stage": "nosuch"},
                    headers={"accept": "application/json"})
    assert r.status_code == 404 and "has no stage 'nosuch'" in r.json()["error"]
    ok = client.post(f"/jobs/{webcat.job_id}/retry", data={"csrf": csrf_of(client),
                                                           "stage": "probe"},
                     headers={"accept": "application/json"})
    assert ok.json()["retried"] == 1


@pytest.mark.postgres
def test_routes_on_postgres(postgres_url: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same pages over a PostgreSQL catalog (the at-scale default)."""
    from pathlib import Path

    from tests.pipeline_harness import configure
    from tests.web.webcatalog import build

    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url)
    cat = build(catalog(settings), Path(settings.data_dir), tmp_path / "outside")
    with TestClient(create_app(settings), base_url=BASE) as c:
        job = c.get(f"/api/jobs/{cat.job_id}").json()
        assert job["failed"] == 1 and job["failures"][0]["traceback"] == TRACEBACK
        rows = c.get("/api/catalog", params={"where": "power>0.5", "sort": "power=desc"}).json()
        power = rows["columns"].index("power")
        values = [r[power] for r in rows["rows"]]
        assert values and values == sorted(values, reverse=True) and min(values) > 0.5
        bad = c.get("/api/catalog", params={"where": "power>>1"}).json()
        assert bad["error"]["position"] == len("power>")
        _, cols = parse_points(c.get(f"/api/jobs/{cat.job_id}/subsets/main/points").content)
        assert cols["id"].astype(int).tolist() == cat.samples
        audio, rate = decode(c.get(f"/media/samples/{cat.samples[3]}.wav").content)
        assert dominant_hz(audio, rate) == pytest.approx(cat.f0[3], rel=0.03)
        pack = zipfile.ZipFile(io.BytesIO(c.get("/pack.zip", params={
            "ids": f"{cat.samples[0]},{cat.samples[1]}"}).content))
        assert len([n for n in pack.namelist() if n.endswith(".wav")]) == 2
        r = c.post(f"/jobs/{cat.job_id}/retry", data={"csrf": csrf_of(c)},
                   headers={"accept": "application/json"})
        assert r.json()["retried"] == 1
        assert c.get(f"/api/jobs/{cat.job_id}").json()["status"] == "active"


def test_names_are_escaped(client: TestClient, webcat: WebCatalog) -> None:
    engine = client.app.state.web.engine  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        job = s.get(Job, webcat.job_id)
        assert job is not None
        job.name = '<script>alert("x")</script>'
    for url in ("/jobs", f"/jobs/{webcat.job_id}", "/catalog"):
        page = client.get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page, url


def test_job_page_offers_a_stage_retry(client: TestClient, webcat: WebCatalog) -> None:
    page = client.get(f"/jobs/{webcat.job_id}").text
    row = page[page.index('data-stage="probe"'):]
    row = row[:row.index("</tr>")]
    assert 'name="stage" value="probe"' in row and "Retry 1" in row

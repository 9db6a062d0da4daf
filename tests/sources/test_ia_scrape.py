"""Scrape against the loopback archive.org look-alike, then download and verify what it chose."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import ConfigError, DownloadError
from tests.ia_server import IAServer, ServedFile, ia_server_fixture, tree  # noqa: F401
from worker.sources.download import RetryPolicy, download_file, verify_file
from worker.sources.internet_archive import (
    DEFAULT_FIELDS,
    RemoteFile,
    choose_files,
    download_url,
    make_session,
    scrape,
)
from worker.sources.paths import safe_media_path

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1, jitter=0.1)


def _blob(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def populate(srv: IAServer, n: int = 57) -> dict[str, dict[str, ServedFile]]:
    """n items of mixed formats: some with several mp4s, some with none, one with a sub-folder."""
    rng = random.Random(7)
    served: dict[str, dict[str, ServedFile]] = {}
    for i in range(n):
        ident = f"film{i:03d}"
        files = [ServedFile(f"{ident}.ogv", _blob(rng, 300 + i), format="Ogg Video")]
        if i % 10 != 9:  # every tenth item has no mp4 at all
            files.append(ServedFile(f"{ident}.mp4", _blob(rng, 2000 + i), format="h.264"))
        if i % 3 == 0 and i % 10 != 9:  # a bigger derivative mp4 and a small one in a sub-folder
            files.append(
                ServedFile(
                    f"{ident}_512kb.mp4",
                    _blob(rng, 4000 + i),
                    format="512Kb MPEG4",
                    source="derivative",
                )
            )
            files.append(ServedFile(f"clips/{ident} part 1.MP4", _blob(rng, 100), format="MPEG4"))
        files.append(ServedFile(f"{ident}_meta.xml", b"<x/>", format="Metadata"))
        meta = {
            "title": f"Film {i}",
            "collection": ["films", "test"],
            "downloads": 1000 - i,
            "year": str(1950 + i % 30),
        }
        srv.add_item(ident, meta, files)
        served[ident] = {f.name: f for f in files}
    srv.add_item(
        "other1",
        {"collection": "unrelated", "downloads": 99999},
        [ServedFile("o.mp4", b"o", format="h.264")],
    )
    return served


@pytest.fixture
def srv(ia_server: IAServer) -> IAServer:
    """The shared fixture from tests.ia_server, under a short name."""
    return ia_server


def test_scrape_pages_and_choice(srv: IAServer) -> None:
    """57 items over 3 pages of 20: all in sort order, metadata merged, largest .mp4 chosen."""
    served = populate(srv)
    items = list(scrape("collection:films", endpoint=srv.url, page_size=20))
    assert [it.identifier for it in items] == [f"film{i:03d}" for i in range(57)]  # downloads desc
    scrapes = srv.log("/services/search/v1/scrape")
    assert len(scrapes) == 3
    assert all(r.method == "POST" for r in scrapes)
    assert "cursor" not in scrapes[0].query and all("cursor" in r.query for r in scrapes[1:])
    assert scrapes[0].query["fields"] == [",".join(DEFAULT_FIELDS)]
    assert scrapes[0].query["sorts"] == ["downloads desc"] and scrapes[0].query["count"] == ["20"]
    assert len(srv.log("/metadata/")) == 57
    for it in items:
        i = int(it.identifier[4:])
        assert it.metadata["title"] == f"Film {i}" and it.metadata["identifier"] == it.identifier
        assert it.metadata["downloads"] == 1000 - i
        if i % 10 == 9:
            assert it.files == []
            continue
        want = f"{it.identifier}_512kb.mp4" if i % 3 == 0 else f"{it.identifier}.mp4"
        (f,) = it.files
        assert f.name == want
        assert (
            f.size == served[it.identifier][want].size and f.md5 == served[it.identifier][want].md5
        )
        assert f.format and f.source and f.mtime


def test_scrape_multi_and_format_names(srv: IAServer) -> None:
    """multi=True keeps every match, largest first; format names match case-insensitively."""
    populate(srv, 6)
    items = {
        it.identifier: it
        for it in scrape(
            "collection:films", endpoint=srv.url, page_size=100, formats=(".mp4",), multi=True
        )
    }
    assert [f.name for f in items["film000"].files] == [
        "film000_512kb.mp4",
        "film000.mp4",
        "clips/film000 part 1.MP4",
    ]
    assert [f.name for f in items["film001"].files] == ["film001.mp4"]
    ogv = next(scrape("identifier:film002", endpoint=srv.url, formats=("ogg video",)))
    assert [f.name for f in ogv.files] == ["film002.ogv"]


def test_scrape_limit_and_empty(srv: IAServer) -> None:
    """limit stops early (and stops paging); a query matching nothing yields nothing."""
    populate(srv)
    assert len(list(scrape("collection:films", endpoint=srv.url, page_size=20, limit=25))) == 25
    assert len(srv.log("/services")) == 2
    assert list(scrape("collection:nothing", endpoint=srv.url, page_size=20)) == []


def test_scrape_error_and_unknown_item(srv: IAServer) -> None:
    """An API error becomes DownloadError; an item the metadata API doesn't know yields no files."""
    srv.add_item("ghost", {"collection": "x"}, [])
    it = next(scrape("collection:x", endpoint=srv.url))
    assert it.identifier == "ghost" and it.files == []
    srv.scrape_error = "Invalid query"
    with pytest.raises(DownloadError, match="Invalid query") as ei:
        list(scrape("collection:x", endpoint=srv.url))
    assert ei.value.permanent


def test_scrape_retries_503(srv: IAServer) -> None:
    """503s from the scrape and metadata APIs are retried by the session's adapter."""
    populate(srv, 3)
    srv.scrape_503s = 2
    items = list(scrape("collection:films", endpoint=srv.url, timeout=0.5, retries=3))
    assert len(items) == 3
    assert [q.status for q in srv.log("/services")] == [503, 503, 200]
    srv.scrape_503s = 1
    assert next(scrape("identifier:film001", endpoint=srv.url, timeout=0.5)).files
    srv.scrape_503s = 10
    with pytest.raises(DownloadError, match="503") as ei:
        list(scrape("collection:films", endpoint=srv.url, timeout=0.1, retries=1))
    assert not ei.value.permanent
    with pytest.raises(ConfigError):
        list(scrape("x", endpoint="ftp://h"))
    with pytest.raises(ConfigError):
        list(scrape("x", endpoint=srv.url, page_size=0))


def test_scrape_skips_invalid_identifiers(srv: IAServer) -> None:
    """An identifier that could be a path is never used."""
    srv.add_item("../evil", {"collection": "x"}, [ServedFile("a.mp4", b"a")])
    srv.add_item("good", {"collection": "x"}, [ServedFile("a.mp4", b"a")])
    assert [it.identifier for it in scrape("collection:x", endpoint=srv.url)] == ["good"]


def test_session_talks_to_endpoint_only(srv: IAServer) -> None:
    """make_session points the client at the endpoint with a retrying adapter, anonymously."""
    s = make_session(srv.url, timeout=5, retries=2)
    assert (s.protocol, s.host) == ("http:", f"127.0.0.1:{srv.port}")
    assert s.get_adapter(srv.url + "/x").max_retries.total == 2
    assert s.access_key is None and s.secret_key is None
    assert download_url(srv.url, "id 1", "a b/c#d.mp4") == (
        f"{srv.url}/download/id%201/a%20b/c%23d.mp4"
    )
    assert download_url(None, "x", "y.mp4") == "https://archive.org/download/x/y.mp4"


def test_choose_files_rules() -> None:
    """Extension or format name; largest wins; unknown sizes rank last; ties break by name."""
    fs = [
        RemoteFile("a.mp4", None, None, "h.264", None, None),
        RemoteFile("b.MP4", 10, None, None, None, None),
        RemoteFile("c.ogv", 50, None, "Ogg Video", None, None),
        RemoteFile("d.mp4", 10, None, None, None, None),
    ]
    assert [f.name for f in choose_files(fs, (".mp4",), False)] == ["b.MP4"]
    assert [f.name for f in choose_files(fs, (".mp4",), True)] == ["b.MP4", "d.mp4", "a.mp4"]
    assert [f.name for f in choose_files(fs, ("H.264", ".ogv"), True)] == ["c.ogv", "a.mp4"]
    assert choose_files(fs, (".mkv",), True) == []


def test_end_to_end_scrape_download_verify(srv: IAServer, tmp_path: Path) -> None:
    """All chosen files download (4 threads) to media/<id>/<name> and verify; a re-run skips."""
    populate(srv)
    media = tmp_path / "media"
    media.mkdir()
    (tmp_path / "sentinel").write_text("x")
    before = tree(tmp_path)
    items = list(scrape("collection:films", endpoint=srv.url, page_size=20, multi=True))
    jobs = [(it.identifier, f) for it in items for f in it.files]
    assert len(jobs) == 52 + 2 * 17  # one .mp4 per item with mp4s, +2 for most thirds

    def fetch(job: tuple[str, RemoteFile]):
        ident, f = job
        dest = safe_media_path(media, ident, f.name)
        return download_file(
            download_url(srv.url, ident, f.name),
            dest,
            expected_size=f.size,
            expected_md5=f.md5,
            policy=FAST,
            timeout=5,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fetch, jobs))
    for (ident, f), r in zip(jobs, results, strict=True):
        assert r.path == media.resolve() / ident / f.name and r.md5 == f.md5 and r.attempts == 1
        assert verify_file(r.path, expected_size=f.size, expected_md5=f.md5) is None
    assert not list(media.rglob("*.part"))
    assert tree(tmp_path) - before == {p for p in tree(tmp_path) if p.startswith("media/")} - before
    n = len(srv.log("/download/"))
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(fetch, jobs))
    assert all(r.attempts == 0 for r in again) and len(srv.log("/download/")) == n

"""A scrape resumes from its saved cursor, and one item's failing metadata does not stop it,
against the loopback archive.org look-alike (real HTTP, no mocks)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core.errors import DownloadError
from tests.ia_server import IAServer, ServedFile
from worker.sources.internet_archive import ScrapedItem, ScrapeProgress, scrape

N = 57
PAGE = 10
QUERY = "collection:films"


@pytest.fixture
def srv() -> Iterator[IAServer]:
    """57 items in `films` (film000 has the most downloads), each with one mp4, plus a decoy."""
    with IAServer() as s:
        for i in range(N):
            ident = f"film{i:03d}"
            s.add_item(ident, {"title": f"Film {i}", "collection": "films", "downloads": 1000 - i},
                       [ServedFile(f"{ident}.mp4", bytes([i]) * (100 + i), format="h.264")])
        s.add_item("decoy", {"collection": "other"}, [ServedFile("d.mp4", b"d")])
        yield s


def ids(items: list[ScrapedItem]) -> list[str]:
    return [it.identifier for it in items]


def run(srv: IAServer, saved: dict | None, *, stop_after: int | None = None,
        **kw: object) -> tuple[list[ScrapedItem], dict]:
    """Scrape from a saved progress (as the catalog would hold it: JSON), saving it after each
    item the way the source task saves it with each page; stop early like a killed worker."""
    progress = ScrapeProgress.from_json(json.loads(json.dumps(saved)) if saved else None)
    got: list[ScrapedItem] = []
    last = progress.to_json()
    gen = scrape(QUERY, endpoint=srv.url, page_size=PAGE, timeout=2, retries=1,
                 progress=progress, **kw)
    try:
        for item in gen:
            got.append(item)
            last = progress.to_json()
            if stop_after is not None and len(got) >= stop_after:
                break
    finally:
        gen.close()
    return got, last


def test_killed_scrape_resumes_where_it_stopped(srv: IAServer) -> None:
    """Stopped after 25 items (mid page 3): the next run asks for page 3 by its cursor, never
    page one again, and fetches each item's metadata exactly once over both runs."""
    first, saved = run(srv, None, stop_after=25)
    assert ids(first) == [f"film{i:03d}" for i in range(25)]
    assert saved["cursor"] and saved["skip"] == 5 and saved["seen"] == 25
    assert not saved["finished"]
    pages_before = len(srv.log("/services"))
    rest, saved = run(srv, saved)
    assert ids(first + rest) == [f"film{i:03d}" for i in range(N)]
    assert saved["finished"] and saved["failed"] == {}
    second_run = srv.log("/services")[pages_before:]
    assert second_run and all(r.query.get("cursor") for r in second_run)
    assert len(second_run) == 4  # pages 3..6, not 1..6
    metadata = [r.path for r in srv.log("/metadata/")]
    assert sorted(metadata) == sorted(f"/metadata/film{i:03d}" for i in range(N))
    assert all(it.files and it.error is None for it in first + rest)
    again, saved = run(srv, saved)  # a finished scrape asks nothing more
    assert again == [] and len(srv.log("/services")) == pages_before + 4


def test_page_boundary_resume_starts_at_the_next_page(srv: IAServer) -> None:
    """Stopped right after a page's last item: the saved cursor is the next page's."""
    first, saved = run(srv, None, stop_after=20)
    assert saved["skip"] == 0 and saved["cursor"]
    rest, _ = run(srv, saved)
    assert ids(first + rest) == [f"film{i:03d}" for i in range(N)]
    assert len(srv.log("/services")) == 6  # every page once: 2 + 4
    assert len(srv.log("/metadata/")) == N


def test_outage_mid_listing_then_resume(srv: IAServer) -> None:
    """The scrape API goes down after 3 pages: a transient error, and the progress saved so
    far lets the next run continue at page 4."""
    srv.scrape_pages_left = 3
    got: list[ScrapedItem] = []
    progress = ScrapeProgress()
    with pytest.raises(DownloadError, match="503") as ei:
        for item in scrape(QUERY, endpoint=srv.url, page_size=PAGE, timeout=2, retries=1,
                           progress=progress):
            got.append(item)
    assert not ei.value.permanent
    assert ids(got) == [f"film{i:03d}" for i in range(30)]
    assert progress.seen == 30 and progress.skip == 0 and not progress.finished
    srv.scrape_pages_left = None
    before = len(srv.log("/services"))
    rest, saved = run(srv, progress.to_json())
    assert ids(got + rest) == [f"film{i:03d}" for i in range(N)] and saved["finished"]
    assert all(r.query.get("cursor") for r in srv.log("/services")[before:])


def test_refused_cursor_lists_again_from_page_one(srv: IAServer) -> None:
    """A saved cursor the API no longer accepts (expired) restarts the listing cleanly."""
    got, saved = run(srv, {"cursor": "not-a-cursor!", "skip": 3, "seen": 33})
    assert ids(got) == [f"film{i:03d}" for i in range(N)] and saved["seen"] == N
    first, second = srv.log("/services")[:2]
    assert first.query["cursor"] == ["not-a-cursor!"] and "cursor" not in second.query


def test_limit_counts_across_runs(srv: IAServer) -> None:
    """limit = 25 stopped after 12: the second run yields 13 more and stops paging."""
    first, saved = run(srv, None, stop_after=12, limit=25)
    rest, saved = run(srv, saved, limit=25)
    assert ids(first + rest) == [f"film{i:03d}" for i in range(25)] and saved["finished"]
    # pages 1-2, then page 2 again (the run stopped inside it) and page 3; never page 4
    assert len(srv.log("/services")) == 4


def test_failing_metadata_is_recorded_and_retried_later(srv: IAServer) -> None:
    """film003's metadata answers 500 whatever the retries: the scrape yields it with the
    error and no files, the other 56 complete; the next run retries only film003."""
    srv.metadata_failures["film003"] = -1
    got, saved = run(srv, None)
    assert ids(got) == [f"film{i:03d}" for i in range(N)]
    bad = got[3]
    assert bad.error and "500" in bad.error and bad.files == []
    assert bad.metadata["title"] == "Film 3"  # what the scrape row gave
    assert all(it.error is None and it.files for it in got if it is not bad)
    assert set(saved["failed"]) == {"film003"} and saved["finished"]
    assert "500" in saved["failed"]["film003"]["error"]
    fetches = len(srv.log("/metadata/film003"))
    assert fetches == 2  # the first request and one retry (retries=1)

    again, saved = run(srv, saved)  # still failing: recorded again, nothing else asked
    assert again == [] and set(saved["failed"]) == {"film003"}
    assert len(srv.log("/metadata/")) == N - 1 + 2 * fetches

    del srv.metadata_failures["film003"]
    pages = len(srv.log("/services"))
    fixed, saved = run(srv, saved)
    assert ids(fixed) == ["film003"] and fixed[0].files and fixed[0].error is None
    assert fixed[0].metadata["downloads"] == 997
    assert saved["failed"] == {} and saved["finished"]
    assert len(srv.log("/services")) == pages  # the listing was not walked again


def test_failures_do_not_stop_paging(srv: IAServer) -> None:
    """Metadata failing for one item on each of several pages: every page is still read."""
    for i in (0, 15, 33, 56):
        srv.metadata_failures[f"film{i:03d}"] = 2  # the request and its one retry fail
    got, saved = run(srv, None)
    assert len(got) == N and sorted(saved["failed"]) == [f"film{i:03d}" for i in (0, 15, 33, 56)]
    fixed, saved = run(srv, saved)  # the server recovered: a later run fills them in
    assert sorted(ids(fixed)) == sorted(saved_ids := [f"film{i:03d}" for i in (0, 15, 33, 56)])
    assert all(it.files for it in fixed) and saved["failed"] == {} and len(saved_ids) == 4


def test_progress_json_round_trip_and_junk() -> None:
    """from_json(to_json(p)) == p; junk or None starts from the beginning."""
    p = ScrapeProgress("abc", 3, 40, False, {"x": {"row": {"identifier": "x"}, "error": "e"}})
    assert ScrapeProgress.from_json(json.loads(json.dumps(p.to_json()))) == p
    assert ScrapeProgress.from_json(None) == ScrapeProgress()
    assert ScrapeProgress.from_json({"cursor": 5, "skip": -2}) == ScrapeProgress()

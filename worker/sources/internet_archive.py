"""Scrape Internet Archive items (scrape API + metadata API) and pick the files to download."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from internetarchive import ArchiveSession
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core.errors import ConfigError, DownloadError

log = logging.getLogger(__name__)

DEFAULT_FIELDS = (
    "identifier",
    "title",
    "creator",
    "date",
    "year",
    "collection",
    "subject",
    "licenseurl",
    "downloads",
    "description",
)
DEFAULT_ENDPOINT = "https://archive.org"
# archive.org identifiers: letters, digits, '_', '-', '.'; never starting with '.' or '-'.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class RemoteFile:
    """One file of an item as the metadata API lists it."""

    name: str
    size: int | None
    md5: str | None
    format: str | None
    source: str | None
    mtime: str | None


@dataclass(frozen=True)
class ScrapedItem:
    """An item's metadata (scrape fields over metadata API) and the files chosen from it."""

    identifier: str
    metadata: dict
    files: list[RemoteFile]
    error: str | None = None  # the metadata fetch failed: metadata has the scrape fields only


def _base(endpoint: str | None) -> tuple[str, str]:
    """Split an endpoint like `http://127.0.0.1:8080` into (protocol 'http:', host)."""
    parts = urlsplit(endpoint or DEFAULT_ENDPOINT)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"invalid Internet Archive endpoint {endpoint!r}: want http(s)://host")
    return f"{parts.scheme}:", parts.netloc


def make_session(endpoint: str | None, *, timeout: float, retries: int) -> ArchiveSession:
    """An anonymous ArchiveSession talking to `endpoint` (default archive.org), with retries."""
    protocol, host = _base(endpoint)
    # config_file=os.devnull: never read the user's ia.ini; everything comes from parameters.
    session = ArchiveSession(
        config={"general": {"secure": protocol == "https:"}}, config_file=os.devnull
    )
    session.access_key = None  # anonymous: keys from IA_* variables must not leak to endpoints
    session.secret_key = None
    session.host = host
    # The client asks for 'Connection: close' on every request; keep-alive is kinder to servers
    # and avoids urllib3 reusing a connection the server just closed.
    session.headers.pop("Connection", None)
    session.protocol = protocol
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        redirect=False,
        allowed_methods=["POST", "HEAD", "GET", "OPTIONS"],
        status_forcelist=[429, 500, 502, 503, 504],
        backoff_factor=min(1.0, timeout / 10),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session.mount(f"{protocol}//{host}", HTTPAdapter(max_retries=retry))
    session.hooks["response"].append(_raise_for_overload)
    return session


def _raise_for_overload(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Turn 429/5xx left after the adapter's retries into HTTPError (transient for callers)."""
    if resp.status_code == 429 or resp.status_code >= 500:
        resp.raise_for_status()


def download_url(endpoint: str | None, identifier: str, name: str) -> str:
    """The /download/ URL of a file, with identifier and name URL-quoted ('/' kept in names)."""
    protocol, host = _base(endpoint)
    return f"{protocol}//{host}/download/{quote(identifier, safe='')}/{quote(name, safe='/')}"


def _int_or_none(value: Any) -> int | None:
    """archive.org sends sizes as strings; tolerate junk."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_files(raw: Sequence[dict[str, Any]]) -> list[RemoteFile]:
    """Turn the metadata API's `files` list into RemoteFile records, dropping nameless ones."""
    out = []
    for f in raw:
        name = f.get("name")
        if not isinstance(name, str) or not name:
            continue
        md5 = f.get("md5")
        out.append(
            RemoteFile(
                name=name,
                size=_int_or_none(f.get("size")),
                md5=md5.lower() if isinstance(md5, str) and md5 else None,
                format=f.get("format"),
                source=f.get("source"),
                mtime=None if f.get("mtime") is None else str(f.get("mtime")),
            )
        )
    return out


def _matches(f: RemoteFile, wanted: Sequence[str]) -> bool:
    """True if the file's extension (".mp4") or format name ("h.264") is among `wanted`."""
    lname = f.name.lower()
    fmt = (f.format or "").lower()
    for w in wanted:
        w = w.lower()
        if (w.startswith(".") and lname.endswith(w)) or (fmt and fmt == w):
            return True
    return False


def choose_files(files: list[RemoteFile], formats: Sequence[str], multi: bool) -> list[RemoteFile]:
    """The largest file matching `formats`, or every match (largest first) when `multi`."""
    if isinstance(formats, str):
        formats = (formats,)
    matches = [f for f in files if _matches(f, formats)]
    matches.sort(key=lambda f: (-(f.size if f.size is not None else -1), f.name))
    return matches if multi else matches[:1]


def fetch_metadata(session: ArchiveSession, identifier: str, *, timeout: float) -> dict[str, Any]:
    """The metadata API answer for one item ({} for unknown items)."""
    url = f"{session.protocol}//{session.host}/metadata/{quote(identifier, safe='')}"
    try:
        resp = session.get(url, timeout=timeout)
        resp.raise_for_status()
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise DownloadError(f"metadata for {identifier!r} from {url}: {exc}") from exc
    return body if isinstance(body, dict) else {}


@dataclass
class ScrapeProgress:
    """Where a scrape stands, saved beside each page's upserts so a killed scrape resumes.

    `cursor` fetched the page being worked through (None: the first page) and `skip` rows of
    it are handled; `seen` items count against the limit; `finished` once the listing is
    exhausted; `failed` maps identifiers whose metadata fetch failed to their scrape row and
    error, retried at the start of the next run.
    """

    cursor: str | None = None
    skip: int = 0
    seen: int = 0
    finished: bool = False
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe copy, for the catalog."""
        return {
            "cursor": self.cursor,
            "skip": self.skip,
            "seen": self.seen,
            "finished": self.finished,
            "failed": {k: dict(v) for k, v in self.failed.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ScrapeProgress:
        """Rebuild from to_json's output (None or junk: from the start)."""
        if not isinstance(data, dict):
            return cls()
        failed = data.get("failed")
        cursor = data.get("cursor")
        return cls(
            cursor=cursor if isinstance(cursor, str) and cursor else None,
            skip=max(0, int(data.get("skip") or 0)),
            seen=max(0, int(data.get("seen") or 0)),
            finished=bool(data.get("finished")),
            failed={str(k): dict(v) for k, v in failed.items() if isinstance(v, dict)}
            if isinstance(failed, dict)
            else {},
        )


def _scrape_page(
    session: ArchiveSession, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """One scrape API request; raises ValueError for an API error answer."""
    url = f"{session.protocol}//{session.host}/services/search/v1/scrape"
    resp = session.post(url, params=params, timeout=timeout)
    try:
        body = resp.json()
    except ValueError as exc:
        raise requests.RequestException(f"scrape answer is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise requests.RequestException("scrape answer is not a JSON object")
    if body.get("error"):
        raise ValueError(str(body["error"]))
    resp.raise_for_status()
    if not isinstance(body.get("items"), list):
        raise requests.RequestException("scrape answer has no items list")
    return body


def _item_from(
    session: ArchiveSession,
    row: dict[str, Any],
    formats: Sequence[str],
    multi: bool,
    timeout: float,
) -> ScrapedItem:
    """Fetch an item's metadata and merge the scrape row over it; DownloadError on failure."""
    ident = row["identifier"]
    body = fetch_metadata(session, ident, timeout=timeout)
    meta = dict(body.get("metadata") or {})
    meta.update({k: v for k, v in row.items() if v is not None})
    files = choose_files(parse_files(body.get("files") or []), formats, multi)
    return ScrapedItem(ident, meta, files)


def scrape(
    query: str,
    *,
    endpoint: str | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    sorts: Sequence[str] = ("downloads desc",),
    formats: Sequence[str] = (".mp4",),
    multi: bool = False,
    limit: int | None = None,
    page_size: int = 1000,
    timeout: float = 30.0,
    retries: int = 5,
    progress: ScrapeProgress | None = None,
) -> Iterator[ScrapedItem]:
    """Yield matching items with their chosen files, paging the scrape API with its cursor.

    Items without a matching file are yielded with files=[]. Identifiers that are not valid
    archive.org identifiers are skipped with a warning. On archive.org page_size is raised to
    the API's minimum, 100.

    `progress` (updated in place before each yield, so it always says what the consumer has
    been given) resumes an earlier run: its failed items are retried first, then the listing
    continues from its cursor. A saved cursor the API refuses restarts the listing from page
    one. An item whose metadata fetch fails after retries is yielded with `error` set and
    files=[] and kept in `progress.failed`; the rest goes on.
    Raises DownloadError(permanent=False) when the scrape API fails after retries,
    DownloadError(permanent=True) when the API answers the query with an error.
    """
    if limit is not None and limit <= 0:
        return
    if not 1 <= page_size <= 10000:
        raise ConfigError(f"page_size must be 1..10000, got {page_size}")
    progress = progress if progress is not None else ScrapeProgress()
    session = make_session(endpoint, timeout=timeout, retries=retries)
    if session.host.endswith("archive.org"):
        page_size = max(100, page_size)  # the real scrape API refuses count < 100
    try:
        yield from _retry_failed(session, progress, formats, multi, timeout)
        if progress.finished or (limit is not None and progress.seen >= limit):
            progress.finished = True
            return
        yield from _list(session, query, fields, sorts, formats, multi, limit, page_size,
                         timeout, progress)
    except (requests.RequestException, KeyError) as exc:  # network, overload, bad JSON
        raise DownloadError(f"scrape {query!r} at {session.host}: {exc}") from exc
    except ValueError as exc:  # the API refused the query: retrying will not help
        raise DownloadError(f"scrape {query!r} refused: {exc}", permanent=True) from exc
    finally:
        session.close()


def _retry_failed(
    session: ArchiveSession,
    progress: ScrapeProgress,
    formats: Sequence[str],
    multi: bool,
    timeout: float,
) -> Iterator[ScrapedItem]:
    """Fetch again the items whose metadata failed in an earlier run; yield those that work."""
    for ident in list(progress.failed):
        row = dict(progress.failed[ident].get("row") or {"identifier": ident})
        row["identifier"] = ident
        try:
            item = _item_from(session, row, formats, multi, timeout)
        except DownloadError as exc:
            log.warning("metadata for %r failed again: %s", ident, exc)
            progress.failed[ident] = {"row": row, "error": str(exc)}
            continue
        del progress.failed[ident]
        yield item


def _list(
    session: ArchiveSession,
    query: str,
    fields: Sequence[str],
    sorts: Sequence[str],
    formats: Sequence[str],
    multi: bool,
    limit: int | None,
    page_size: int,
    timeout: float,
    progress: ScrapeProgress,
) -> Iterator[ScrapedItem]:
    """Page the listing from `progress`, yielding items and advancing `progress` before each."""
    params: dict[str, Any] = {
        "q": query,
        "fields": ",".join(dict.fromkeys(["identifier", *fields])),
        "count": page_size,
    }
    if sorts:
        params["sorts"] = ",".join(sorts)
    while True:
        asked = progress.cursor
        try:
            body = _scrape_page(session, {**params, **({"cursor": asked} if asked else {})},
                                timeout)
        except ValueError as exc:
            if asked is None:
                raise
            log.warning("saved scrape cursor refused (%s); listing again from page one", exc)
            progress.cursor, progress.skip, progress.seen = None, 0, 0
            continue
        rows = body["items"]
        following = body.get("cursor") or None
        for n in range(progress.skip, len(rows)):
            last = n == len(rows) - 1
            row = rows[n]
            if last:  # the page is done: the next run starts at the next page (or is finished)
                progress.cursor, progress.skip = following, 0
                progress.finished = following is None
            else:
                progress.skip = n + 1
            if not isinstance(row, dict):
                continue
            ident = row.get("identifier")
            if not isinstance(ident, str) or not _IDENTIFIER.match(ident):
                log.warning("skipping invalid identifier %r", ident)
                continue
            progress.seen += 1
            if limit is not None and progress.seen >= limit:
                progress.finished = True
            try:
                item = _item_from(session, row, formats, multi, timeout)
            except DownloadError as exc:
                log.warning("metadata for %r failed; the scrape goes on: %s", ident, exc)
                progress.failed[ident] = {"row": row, "error": str(exc)}
                item = ScrapedItem(ident, {k: v for k, v in row.items() if v is not None}, [],
                                   error=str(exc))
            yield item
            if progress.finished:
                return
        progress.cursor, progress.skip = following, 0  # also when the page shrank since
        if following is None:
            progress.finished = True
            return

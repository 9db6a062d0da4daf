"""Scrape Internet Archive items (scrape API + metadata API) and pick the files to download."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
) -> Iterator[ScrapedItem]:
    """Yield matching items with their chosen files, paging the scrape API with its cursor.

    Items without a matching file are yielded with files=[]. Identifiers that are not valid
    archive.org identifiers are skipped with a warning. On archive.org page_size is raised to
    the API's minimum, 100.
    Raises DownloadError(permanent=False) when the API or a metadata fetch fails after retries,
    DownloadError(permanent=True) when the API answers the query with an error.
    """
    if limit is not None and limit <= 0:
        return
    if not 1 <= page_size <= 10000:
        raise ConfigError(f"page_size must be 1..10000, got {page_size}")
    session = make_session(endpoint, timeout=timeout, retries=retries)
    if session.host.endswith("archive.org"):
        page_size = max(100, page_size)  # the real scrape API refuses count < 100
    fields = list(dict.fromkeys(["identifier", *fields]))
    search = session.search_items(
        query,
        fields=fields,
        sorts=list(sorts),
        params={"count": page_size},
        request_kwargs={"timeout": timeout},
        max_retries=retries,
    )
    # search_items re-mounts its retry adapter on archive.org only; ours stays on the endpoint.
    yielded = 0
    try:
        for row in search.iter_as_results():
            if "error" in row and "identifier" not in row:
                continue  # the client yields the API's error, then raises ValueError for it
            ident = row.get("identifier")
            if not isinstance(ident, str) or not _IDENTIFIER.match(ident):
                log.warning("skipping invalid identifier %r", ident)
                continue
            body = fetch_metadata(session, ident, timeout=timeout)
            meta = dict(body.get("metadata") or {})
            meta.update({k: v for k, v in row.items() if v is not None})
            files = choose_files(parse_files(body.get("files") or []), formats, multi)
            yield ScrapedItem(ident, meta, files)
            yielded += 1
            if limit is not None and yielded >= limit:
                return
    except (requests.RequestException, KeyError) as exc:  # network, overload, bad JSON
        raise DownloadError(f"scrape {query!r} at {session.host}: {exc}") from exc
    except ValueError as exc:  # the API refused the query: retrying will not help
        raise DownloadError(f"scrape {query!r} refused: {exc}", permanent=True) from exc
    finally:
        session.close()

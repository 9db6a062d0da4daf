"""An archive.org-compatible HTTP server on loopback, with per-file fault injection, for tests.

Speaks the three endpoints samplemill uses: the scrape API (POST /services/search/v1/scrape),
the metadata API (GET /metadata/<id>) and downloads (GET /download/<id>/<name>, with Range).

    with IAServer() as srv:
        srv.add_item("film1", {"title": "A"}, [ServedFile("film1.mp4", b"...")])
        scrape("collection:x", endpoint=srv.url)

Run `python -m tests.ia_server [--dir DIR] [--demo N] [--port P]` to serve by hand; each
sub-folder of DIR is an item and its files are the item's files.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` download requests of a file."""

    status: int | None = None  # answer this status instead of the body (e.g. 503, 429, 404)
    retry_after: float | None = None  # Retry-After header (seconds) with `status`
    drop_after: int | None = None  # send this many body bytes, then cut the connection
    stall: float | None = None  # sleep this long before answering
    ignore_range: bool = False  # answer 200 with the whole body even when Range was asked
    rate: float | None = None  # trickle this request's body at this many bytes per second
    times: int = 1  # how many requests this fault applies to (-1: forever)


@dataclass
class ServedFile:
    """A file of an item: its bytes (or a path on disk) and how the server misbehaves on it."""

    name: str
    data: bytes | None = None
    path: Path | None = None
    format: str | None = None
    source: str = "original"
    mtime: str = "1500000000"
    metadata_md5: str | None = None  # report this md5 instead of the true one (wrong md5)
    metadata_size: int | None = None  # report this size instead of the true one
    listed_size: bool = True  # include `size` in the metadata listing
    rate: float | None = None  # throttle the body to this many bytes per second
    redirect: bool = False  # answer /download/ with 302 to /serve/ (as archive.org does)
    faults: list[Fault] = field(default_factory=list)
    md5: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        """Compute the true size and md5 once."""
        if self.data is None and self.path is None:
            raise ValueError("ServedFile needs data or path")
        h = hashlib.md5()
        if self.data is not None:
            h.update(self.data)
            self.size = len(self.data)
        else:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            self.size = self.path.stat().st_size  # type: ignore[union-attr]
        self.md5 = h.hexdigest()

    def listing(self) -> dict[str, Any]:
        """The file's entry in the metadata API `files` list (sizes as strings, as archive.org)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "source": self.source,
            "mtime": self.mtime,
            "md5": self.metadata_md5 or self.md5,
        }
        if self.format:
            entry["format"] = self.format
        if self.listed_size:
            entry["size"] = str(self.metadata_size if self.metadata_size is not None else self.size)
        return entry


@dataclass
class LoggedRequest:
    """One request as the server saw it, for tests to assert on."""

    method: str
    path: str
    query: dict[str, list[str]]
    range: str | None
    status: int = 0
    at: float = 0.0


@dataclass
class _Item:
    identifier: str
    metadata: dict[str, Any]
    files: dict[str, ServedFile]


def _term_matches(term: str, meta: dict[str, Any]) -> bool:
    """Match one query term `field:value` (glob allowed) or a bare word against metadata."""
    if term in ("*:*", "*"):
        return True
    negate = term.startswith("-") or term.startswith("NOT ")
    term = term.removeprefix("-").removeprefix("NOT ").strip()
    if ":" in term:
        key, _, pattern = term.partition(":")
        values = meta.get(key)
    else:
        pattern, values = f"*{term}*", [meta.get("identifier"), meta.get("title")]
    pattern = pattern.strip('"').lower()
    if values is None:
        values = []
    if not isinstance(values, list):
        values = [values]
    hit = any(fnmatch.fnmatchcase(str(v).lower(), pattern) for v in values if v is not None)
    return hit != negate


def query_matches(query: str, meta: dict[str, Any]) -> bool:
    """A small subset of archive.org query syntax: terms joined by AND (others by OR)."""
    for conj in query.split(" AND "):
        alternatives = [t.strip().strip("()") for t in conj.split(" OR ")]
        if not any(_term_matches(t, meta) for t in alternatives if t):
            return False
    return True


def _sort_key(field_name: str):
    """Sort key tolerant of missing and mixed-type values."""

    def key(meta: dict[str, Any]) -> tuple:
        v = meta.get(field_name)
        if isinstance(v, int | float):
            return (0, v, "")
        try:
            return (0, float(v), "")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return (1, 0, "" if v is None else str(v))

    return key


class _QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server that does not print clients hanging up mid-answer."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore connection resets and broken pipes (tests cause them on purpose)."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class IAServer:
    """Threaded loopback archive.org look-alike; use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._items: dict[str, _Item] = {}
        self._lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self.scrape_error: str | None = None  # answer scrapes with {"error": ...}
        self.inflight = 0  # download bodies being sent right now (until their last chunk)
        self.max_inflight = 0  # the most ever sent at once
        self.scrape_503s = 0  # answer this many scrape/metadata requests with 503 first
        # Serve this many more scrape pages, then answer every scrape with 503 (an outage
        # mid-listing) until set back to None.
        self.scrape_pages_left: int | None = None
        # identifier -> how many more metadata requests of it get a 500 (-1: all of them).
        self.metadata_failures: dict[str, int] = {}
        self._httpd = _QuietServer((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    # -- registry -------------------------------------------------------------------------
    def add_item(
        self, identifier: str, metadata: dict[str, Any] | None = None, files: list[ServedFile] = ()
    ) -> None:
        """Register an item (its metadata gains `identifier`) with its files."""
        meta = {"identifier": identifier, **(metadata or {})}
        with self._lock:
            self._items[identifier] = _Item(identifier, meta, {f.name: f for f in files})

    def file(self, identifier: str, name: str) -> ServedFile:
        """The registered file, so tests can change its faults between runs."""
        return self._items[identifier].files[name]

    def add_faults(self, identifier: str, name: str, *faults: Fault) -> None:
        """Queue faults for the next download requests of a file."""
        with self._lock:
            self._items[identifier].files[name].faults.extend(faults)

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL to pass as `endpoint`."""
        return f"http://127.0.0.1:{self.port}"

    def download_url(self, identifier: str, name: str) -> str:
        """The download URL of a file, URL-quoted."""
        return f"{self.url}/download/{quote(identifier, safe='')}/{quote(name, safe='/')}"

    def start(self) -> IAServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> IAServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request log ----------------------------------------------------------------------
    def log(self, path_prefix: str = "") -> list[LoggedRequest]:
        """Logged requests whose path starts with `path_prefix`."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _next_fault(self, f: ServedFile) -> Fault | None:
        """Take the fault for this request, counting down its `times`."""
        with self._lock:
            while f.faults:
                fault = f.faults[0]
                if fault.times == 0:
                    f.faults.pop(0)
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
            return None

    # -- API answers ----------------------------------------------------------------------
    def take_503(self) -> bool:
        """Whether this API request should get an injected 503."""
        with self._lock:
            if self.scrape_503s > 0:
                self.scrape_503s -= 1
                return True
            return False

    def scrape_page(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Answer one scrape request like archive.org's v1 scrape API."""
        if self.take_503():
            return 503, {"error": "overloaded"}
        if self.scrape_error:
            return 200, {"error": self.scrape_error}
        with self._lock:
            if self.scrape_pages_left is not None:
                if self.scrape_pages_left <= 0:
                    return 503, {"error": "scrape service unavailable"}
                self.scrape_pages_left -= 1
        q = params.get("q", ["*:*"])[0]
        fields = [f for f in ",".join(params.get("fields", ["identifier"])).split(",") if f]
        if "identifier" not in fields:
            fields.insert(0, "identifier")
        count = int(params.get("count", ["100"])[0])
        if count < 1:
            return 400, {"error": "count must be positive"}
        with self._lock:
            metas = [it.metadata for it in self._items.values() if query_matches(q, it.metadata)]
        metas.sort(key=_sort_key("identifier"))
        sorts = [s for s in ",".join(params.get("sorts", [])).split(",") if s.strip()]
        for spec in reversed(sorts):
            name, _, direction = spec.strip().partition(" ")
            metas.sort(key=_sort_key(name), reverse=direction.strip().lower() == "desc")
        total = len(metas)
        if params.get("total_only", [""])[0] == "true":
            return 200, {"total": total}
        start = 0
        if params.get("cursor", [""])[0]:
            try:
                start = int(base64.urlsafe_b64decode(params["cursor"][0]).decode())
            except ValueError:
                return 200, {"error": "Invalid cursor"}
        page = metas[start : start + count]
        body: dict[str, Any] = {
            "items": [{k: m[k] for k in fields if k in m} for m in page],
            "count": len(page),
            "total": total,
        }
        if start + count < total:
            body["cursor"] = base64.urlsafe_b64encode(str(start + count).encode()).decode()
        return 200, body

    def take_metadata_failure(self, identifier: str) -> bool:
        """Whether this metadata request of `identifier` should get an injected 500."""
        with self._lock:
            left = self.metadata_failures.get(identifier, 0)
            if left == 0:
                return False
            if left > 0:
                self.metadata_failures[identifier] = left - 1
            return True

    def metadata(self, identifier: str) -> dict[str, Any]:
        """Answer the metadata API: {} for unknown items."""
        with self._lock:
            item = self._items.get(identifier)
            if item is None:
                return {}
            return {
                "created": int(time.time()),
                "dir": f"/0/items/{identifier}",
                "server": "127.0.0.1",
                "metadata": dict(item.metadata),
                "files": [f.listing() for f in item.files.values()],
                "files_count": len(item.files),
            }

    def lookup(self, identifier: str, name: str) -> ServedFile | None:
        """The served file or None."""
        with self._lock:
            item = self._items.get(identifier)
            return None if item is None else item.files.get(name)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Parse `bytes=a-b` / `bytes=a-` / `bytes=-n`; None if absent, 'bad' if unsatisfiable."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            start, end = max(0, size - n), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


def _make_handler(server: IAServer) -> type[BaseHTTPRequestHandler]:
    """Build the request handler class bound to one IAServer."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ia-test-server/1"

        def setup(self) -> None:
            """Disable Nagle: headers and body go out as separate writes."""
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet; the request log is kept in memory."""

        def _entry(self) -> tuple[LoggedRequest, str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            entry = LoggedRequest(
                self.command, unquote(parts.path), query, self.headers.get("Range"), at=time.time()
            )
            server._record(entry)
            return entry, parts.path, query

        def _json(self, entry: LoggedRequest, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            entry.status = status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _empty(self, entry: LoggedRequest, status: int, headers: dict[str, str] = {}) -> None:  # noqa: B006
            entry.status = status
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            entry, path, query = self._entry()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw and "form" in (self.headers.get("Content-Type") or ""):
                for k, v in parse_qs(raw.decode(), keep_blank_values=True).items():
                    query.setdefault(k, v)
            if path.rstrip("/") == "/services/search/v1/scrape":
                status, body = server.scrape_page(query)
                self._json(entry, status, body)
            else:
                self._json(entry, 404, {"error": "not found"})

        def do_HEAD(self) -> None:
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            entry, path, query = self._entry()
            parts = path.split("/")
            if path.startswith("/metadata/") and len(parts) >= 3:
                if server.take_503():
                    self._json(entry, 503, {"error": "overloaded"})
                    return
                if server.take_metadata_failure(unquote(parts[2])):
                    self._json(entry, 500, {"error": "metadata read failed"})
                    return
                self._json(entry, 200, server.metadata(unquote(parts[2])))
            elif path.rstrip("/") == "/services/search/v1/scrape":
                status, body = server.scrape_page(query)
                self._json(entry, status, body)
            elif path.startswith(("/download/", "/serve/")) and len(parts) >= 4:
                ident, name = unquote(parts[2]), unquote("/".join(parts[3:]))
                f = server.lookup(ident, name)
                if f is not None and f.redirect and parts[1] == "download":
                    self._empty(entry, 302, {"Location": "/serve/" + "/".join(parts[2:])})
                    return
                self._download(entry, ident, name, head)
            else:
                self._json(entry, 404, {"error": "not found"})

        def _download(self, entry: LoggedRequest, ident: str, name: str, head: bool) -> None:
            f = server.lookup(ident, name)
            if f is None:
                self._empty(entry, 404)
                return
            fault = server._next_fault(f)
            if fault and fault.stall:
                time.sleep(fault.stall)
            if fault and fault.status:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                self._empty(entry, fault.status, headers)
                return
            rng = None if fault and fault.ignore_range else _parse_range(entry.range, f.size)
            if rng == "bad":
                self._empty(entry, 416, {"Content-Range": f"bytes */{f.size}"})
                return
            start, end = rng if isinstance(rng, tuple) else (0, f.size - 1)
            length = end - start + 1 if f.size else 0
            entry.status = 206 if isinstance(rng, tuple) else 200
            self.send_response(entry.status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            if entry.status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
            self.end_headers()
            if head:
                return
            limit = length
            if fault and fault.drop_after is not None:
                limit = min(length, fault.drop_after)
            try:
                self._send_body(f, start, limit, fault.rate if fault else None)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True
                return
            if limit < length:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def _done_sending(self) -> None:
            """Count this body out of `inflight` (once)."""
            if getattr(self, "_counted", False):
                self._counted = False
                with server._lock:
                    server.inflight -= 1

        def _send_body(
            self, f: ServedFile, start: int, count: int, rate: float | None = None
        ) -> None:
            """Send `count` bytes from `start`, throttled to `rate` or f.rate; counted in
            `inflight`."""
            with server._lock:
                server.inflight += 1
                server.max_inflight = max(server.max_inflight, server.inflight)
            self._counted = True
            try:
                self._send_range(f, start, count, rate or f.rate)
            finally:
                self._done_sending()

        def _send_range(self, f: ServedFile, start: int, count: int, rate: float | None) -> None:
            if rate is None and f.path is not None:
                with open(f.path, "rb") as fh:
                    self.wfile.flush()
                    self.connection.sendfile(fh, start, count)
                return
            chunk = 1 << 20 if rate is None else max(1, int(rate / 20))
            fh = open(f.path, "rb") if f.path is not None else None  # noqa: SIM115
            try:
                pos, left = start, count
                while left > 0:
                    n = min(chunk, left)
                    if fh is not None:
                        fh.seek(pos)
                        buf = fh.read(n)
                    else:
                        buf = f.data[pos : pos + n]  # type: ignore[index]
                    if rate is not None:
                        time.sleep(n / rate)  # pace first, so the last byte ends the answer
                    if left == n:
                        self._done_sending()  # before the client can see the last byte
                    self.wfile.write(buf)
                    pos += n
                    left -= n
            finally:
                if fh is not None:
                    fh.close()

    return Handler


@pytest.fixture(name="ia_server")
def ia_server_fixture() -> Iterator[IAServer]:
    """Pytest fixture `ia_server`: a started IAServer on a free port.

    Use with `from tests.ia_server import ia_server_fixture  # noqa: F401` in a test module.
    """
    with IAServer() as srv:
        yield srv


def serve_dir(srv: IAServer, root: Path) -> int:
    """Register each sub-folder of `root` as an item whose files are the folder's files."""
    n = 0
    for item_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [
            ServedFile(str(p.relative_to(item_dir)), path=p, format=p.suffix.lstrip(".") or None)
            for p in sorted(item_dir.rglob("*"))
            if p.is_file()
        ]
        srv.add_item(item_dir.name, {"title": item_dir.name, "collection": "local"}, files)
        n += 1
    return n


def add_demo_items(srv: IAServer, count: int) -> None:
    """Register `count` small demo items with an .mp4 and an .ogv each."""
    for i in range(count):
        ident = f"demo{i:04d}"
        srv.add_item(
            ident,
            {"title": f"Demo {i}", "collection": "demo", "downloads": i},
            [
                ServedFile(f"{ident}.mp4", os.urandom(1000 + i), format="h.264"),
                ServedFile(f"{ident}.ogv", os.urandom(500), format="Ogg Video"),
            ],
        )


def main(argv: list[str] | None = None) -> None:
    """Serve by hand: prints the base URL on the first line of stdout, then serves forever."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", type=Path, help="serve each sub-folder as an item")
    ap.add_argument("--demo", type=int, default=0, help="register N demo items")
    args = ap.parse_args(argv)
    srv = IAServer(args.host, args.port)
    if args.dir:
        serve_dir(srv, args.dir)
    add_demo_items(srv, args.demo)
    print(f"http://{args.host}:{srv.port}", flush=True)
    try:
        srv._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()


if __name__ == "__main__":
    main()


def tree(root: Path) -> set[str]:
    """Every path under `root`, relative and '/'-separated, to check nothing landed elsewhere."""
    return {p.relative_to(root).as_posix() for p in Path(root).rglob("*")}

"""Real browser tests' helpers: Debian's Chromium driven by Playwright for Python (never a
downloaded browser), and the web app served by uvicorn on a free loopback port in a thread."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.services import REQUIRED

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PACKAGES = "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"


def chromium_or_skip() -> Path:
    """Chromium's path; skip (fail under SAMPLEMILL_REQUIRE_SERVICES=1) without it or
    Playwright, naming the packages."""
    problem = None
    if not CHROMIUM.is_file() or shutil.which("chromedriver") is None:
        problem = f"{CHROMIUM} or chromedriver missing"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problem = f"playwright for Python missing ({exc})"
    if problem is not None:
        message = f"browser tests need {PACKAGES} and the test extras: {problem}"
        if REQUIRED:
            pytest.fail(f"SAMPLEMILL_REQUIRE_SERVICES=1 but {message}")
        pytest.skip(message)
    return CHROMIUM


class Server:
    """uvicorn serving an ASGI app on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextmanager
def chromium(**context: Any) -> Iterator[Any]:
    """A headless Chromium context with an empty profile (Playwright's sync API)."""
    from playwright.sync_api import sync_playwright

    path = chromium_or_skip()
    profile = tempfile.mkdtemp(prefix="samplemill-chromium-")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                profile, executable_path=str(path), headless=True, args=FLAGS,
                viewport=context.pop("viewport", {"width": 1400, "height": 900}),
                accept_downloads=True, **context)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_js(page: Any, expression: str, timeout_ms: float = 15_000) -> Any:
    """Poll a JavaScript expression until it is truthy (through the DevTools protocol, so the
    pages' Content-Security-Policy stays on: no eval in the page)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms:g} ms waiting for {expression}")
        page.wait_for_timeout(50)

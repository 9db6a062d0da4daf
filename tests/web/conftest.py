"""Fixtures for the web app's tests: settings on a temporary data directory and the catalog
of tests/web/webcatalog.py, served through Starlette's TestClient (real ASGI, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core.settings import Settings
from scheduler.web.app import create_app
from tests.pipeline_harness import catalog, configure
from tests.web.webcatalog import WebCatalog, build

BASE = "http://127.0.0.1:8080"


@pytest.fixture
def web_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return configure(monkeypatch, tmp_path)


@pytest.fixture
def webcat(web_settings: Settings, tmp_path: Path) -> WebCatalog:
    return build(catalog(web_settings), Path(web_settings.data_dir), tmp_path / "outside")


@pytest.fixture
def client(web_settings: Settings, webcat: WebCatalog) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url=BASE) as c:
        yield c


def csrf_of(client: TestClient) -> str:
    """The CSRF token a page carries."""
    import re

    page = client.get("/jobs").text
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)

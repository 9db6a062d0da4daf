"""Shared fixtures: catalogs on SQLite and on a real PostgreSQL, a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.engine import dispose_engines, get_engine
from tests.services import fresh_postgres_database, redis_url_or_skip


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite catalog file."""
    return f"sqlite:///{tmp_path / 'catalog.sqlite'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (skips when PostgreSQL is absent)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh catalog URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Engine]:
    """A migrated catalog engine on each backend."""
    yield get_engine(catalog_url)
    dispose_engines()


@pytest.fixture
def redis_url() -> str:
    """A flushed test Redis database (skips when Redis is absent)."""
    return redis_url_or_skip()

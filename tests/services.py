"""Where tests find real Redis and PostgreSQL; they skip without them, or fail in CI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REDIS_URL = os.environ.get("SAMPLEMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "SAMPLEMILL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRED = os.environ.get("SAMPLEMILL_REQUIRE_SERVICES") == "1"


def unavailable(what: str, how: str, exc: Exception) -> None:
    """Skip, or fail when SAMPLEMILL_REQUIRE_SERVICES=1 (CI), saying what to start."""
    message = f"{what} unreachable ({exc}); {how}"
    if REQUIRED:
        pytest.fail(f"SAMPLEMILL_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


def redis_url_or_skip() -> str:
    """The test Redis URL, flushed; skip (fail under CI) when no server answers."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()
    except Exception as exc:
        unavailable(
            "Redis", "start redis-server on 127.0.0.1:6379 or set SAMPLEMILL_TEST_REDIS_URL", exc
        )
    return REDIS_URL


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        unavailable(
            "PostgreSQL",
            "start PostgreSQL on 127.0.0.1:5432 or set SAMPLEMILL_TEST_POSTGRES_URL",
            exc,
        )
    name = f"samplemill_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        from db.engine import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

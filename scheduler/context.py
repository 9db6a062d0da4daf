"""Process-wide handles the CLI and the scheduler share: the catalog engine and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.settings import get_settings
from db.engine import get_engine, session_scope


def catalog_engine() -> Engine:
    """The catalog engine named by the settings, migrated to head on first use."""
    return get_engine(get_settings().resolved_catalog_url)


@contextmanager
def catalog_session() -> Iterator[Session]:
    """A session on the configured catalog that commits on success (samplemill's own errors
    pass through, for the command group to print as one line)."""
    with session_scope(catalog_engine()) as session:
        yield session

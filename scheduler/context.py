"""Process-wide handles the CLI and the scheduler share: the catalog engine and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from core.settings import get_settings
from db.engine import catalog_exists, get_engine, session_scope


def catalog_engine() -> Engine:
    """The catalog engine named by the settings, migrated to head on first use."""
    return get_engine(get_settings().resolved_catalog_url)


def where_catalog_is() -> str:
    """The catalog's location for people: the file, or the URL without its password."""
    settings = get_settings()
    url = make_url(settings.resolved_catalog_url)
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def existing_catalog_engine() -> Engine:
    """The configured catalog's engine, for commands that only read: a NotFoundError saying
    where it looked when there is no catalog there (it is never created by reading)."""
    settings = get_settings()
    if not catalog_exists(settings.resolved_catalog_url):
        hint = ("set SAMPLEMILL_DATA_DIR or SAMPLEMILL_CATALOG_URL to the catalog you mean"
                if not settings.catalog_url else "check SAMPLEMILL_CATALOG_URL")
        raise NotFoundError(
            f"no samplemill catalog at {where_catalog_is()} (data dir "
            f"{settings.data_dir.resolve()}); {hint}, or run a job first"
        )
    return catalog_engine()


@contextmanager
def catalog_session(*, existing: bool = False) -> Iterator[Session]:
    """A session on the configured catalog that commits on success (samplemill's own errors
    pass through, for the command group to print as one line). Commands that read, or change
    what is there, pass `existing`: they never create a catalog, and fail saying where they
    looked."""
    engine = existing_catalog_engine() if existing else catalog_engine()
    with session_scope(engine) as session:
        yield session

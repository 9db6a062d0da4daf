"""Process-wide handles the CLI and the scheduler share: settings and the catalog engine."""

from __future__ import annotations

from sqlalchemy import Engine

from core.settings import get_settings
from db.engine import get_engine


def catalog_engine() -> Engine:
    """The catalog engine named by the settings, migrated to head on first use."""
    return get_engine(get_settings().resolved_catalog_url)

"""Apply the Alembic chain programmatically, once per catalog, safely from many processes."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_KEY = 0x5A4D_11  # advisory lock id for migrations


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any,
                   *, dialect: str = "") -> bool:
    """Autogenerate and schema checks skip indexes that exist only on another dialect."""
    ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" else None
    return not (ddl_if is not None and ddl_if.dialect and dialect not in ddl_if.dialect)


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at db/migrations, optionally bound to an engine."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest revision of the chain."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the catalog is at (None when empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the catalog to `revision`, serialised across processes."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    if engine.dialect.name == "sqlite":
        db_path = engine.url.database
        if not db_path or db_path == ":memory:":
            command.upgrade(alembic_config(engine), revision)
            return
        with open(f"{db_path}.migrate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            conn.commit()

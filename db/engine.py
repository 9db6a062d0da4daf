"""Engines and sessions for the catalog, with SQLite tuned for several writer processes."""

from __future__ import annotations

import select
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 60_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_factories: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL so readers never block the writer; a busy timeout so writers queue, not fail."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    """Take the write lock at BEGIN, so two writers never deadlock upgrading read locks."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _server_alive_on_checkout(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
    """Pool checkout on PostgreSQL: a connection the server has closed is replaced, without
    the round trip of `pool_pre_ping` (a ping before every transaction: one of the nine round
    trips a tiny target's completion took).

    An idle connection in the pool has nothing to read: the server sends nothing unasked. When
    a backend ends (server restart or crash, `pg_terminate_backend`, an idle timeout) it sends
    its FATAL message and closes, so the socket turns readable. A readable socket, or one that
    psycopg already knows is closed or broken, is treated as pre-ping treats a failed ping: the
    pool's older connections are dropped and a new one is made. (Like pre-ping, this cannot see
    a server that vanished without closing its sockets; a statement then fails on its own.)"""
    try:
        dead = dbapi_conn.closed or dbapi_conn.broken
        if not dead:
            poll = select.poll()  # not select.select: no limit on the descriptor's number
            poll.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            dead = bool(poll.poll(0))
    except (OSError, ValueError, AttributeError):
        dead = True
    if dead:
        raise exc.InvalidatePoolError("the server closed this pooled connection")


def create_catalog_engine(url: str) -> Engine:
    """A new engine for `url` (no caching, no migration)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    psycopg = make_url(url).get_driver_name() == "psycopg"
    # another driver keeps the generic check (one round trip each checkout)
    engine = create_engine(url, pool_pre_ping=not psycopg, pool_size=5, max_overflow=10)
    if psycopg:
        event.listen(engine, "checkout", _server_alive_on_checkout)
    return engine


def catalog_exists(url: str) -> bool:
    """True when `url` holds a samplemill catalog (never creates one: a SQLite file must exist,
    a server's database must have the migration table)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return bool(parsed.database) and (
            parsed.database == ":memory:" or Path(parsed.database).is_file()
        )
    from sqlalchemy import inspect

    engine = create_catalog_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")
    finally:
        engine.dispose()


def get_engine(url: str, *, migrate: bool = True) -> Engine:
    """The process's engine for `url`; the schema is brought to head on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_catalog_engine(url)
            if migrate:
                upgrade(engine)
            _engines[url] = engine
        return engine


def dispose_engines(*, close: bool = True) -> None:
    """Drop every pooled connection; after a fork pass close=False to leave the parent's."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()


def _factory(engine: Engine) -> sessionmaker[Session]:
    """The engine's one session factory. (A sessionmaker makes a Session subclass, whose
    event bookkeeping cost more CPU than a tiny target's own statements when it was made for
    every transaction.)"""
    factory = _factories.get(engine)
    if factory is None:
        with _lock:
            factory = _factories.setdefault(engine, sessionmaker(engine, expire_on_commit=False))
    return factory


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Catalog writes for the source stage: upsert items and files, so re-running adds new rows and
updates changed ones without ever duplicating."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import File, Item, utcnow

YEAR = re.compile(r"(\d{4})")


class RemoteFileLike(Protocol):
    name: str
    size: int | None
    md5: str | None
    format: str | None
    source: str | None
    mtime: str | None


class ScrapedItemLike(Protocol):
    identifier: str
    metadata: dict[str, Any]
    files: Sequence[RemoteFileLike]


class LocalFileLike(Protocol):
    path: Any
    relpath: str
    size: int
    mtime: float
    metadata: dict[str, Any]


def _text(value: Any) -> str | None:
    """archive.org fields are strings or lists of strings: store lists joined by '; '."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _year(meta: dict[str, Any]) -> int | None:
    year = _int(meta.get("year"))
    if year is None and meta.get("date"):
        found = YEAR.search(str(_text(meta["date"])))
        year = int(found.group(1)) if found else None
    return year


def _item_columns(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": _text(meta.get("title")),
        "creator": _text(meta.get("creator")),
        "date": (_text(meta.get("date")) or "")[:64] or None,
        "year": _year(meta),
        "collection": _text(meta.get("collection")),
        "subject": _text(meta.get("subject")),
        "licenseurl": _text(meta.get("licenseurl")),
        "downloads": _int(meta.get("downloads")),
        "meta": meta,
    }


def upsert_item(session: Session, job_id: int, identifier: str, source: str,
                meta: dict[str, Any]) -> Item:
    """Insert or update one item by (job, identifier)."""
    item = session.scalar(
        select(Item).where(Item.job_id == job_id, Item.identifier == identifier)
    )
    columns = _item_columns(meta)
    if item is None:
        item = Item(job_id=job_id, identifier=identifier, source=source, **columns)
        session.add(item)
        session.flush()
    else:
        for name, value in columns.items():
            setattr(item, name, value)
        item.updated_at = utcnow()
    return item


def upsert_file(session: Session, job_id: int, key: str, values: dict[str, Any]) -> File:
    """Insert or update one file by (job, key); a changed checksum resets what was measured."""
    file = session.scalar(select(File).where(File.job_id == job_id, File.key == key))
    if file is None:
        file = File(job_id=job_id, key=key, **values)
        session.add(file)
        session.flush()
        return file
    for name, value in values.items():
        setattr(file, name, value)
    file.updated_at = utcnow()
    return file


def upsert_scraped(
    session: Session, job_id: int, items: Iterable[ScrapedItemLike], *, url_for: Any
) -> tuple[int, int]:
    """Upsert archive.org items and their chosen files; returns (items, files) written."""
    n_items = n_files = 0
    for scraped in items:
        item = upsert_item(session, job_id, scraped.identifier, "internet_archive",
                           scraped.metadata)
        n_items += 1
        for remote in scraped.files:
            upsert_file(
                session,
                job_id,
                f"{scraped.identifier}/{remote.name}",
                {
                    "item_id": item.id,
                    "name": remote.name,
                    "url": url_for(scraped.identifier, remote.name),
                    "format": remote.format,
                    "origin": remote.source,
                    "expected_size": remote.size,
                    "expected_md5": remote.md5,
                    "mtime": remote.mtime,
                },
            )
            n_files += 1
    return n_items, n_files


def upsert_local(session: Session, job_id: int, files: Iterable[LocalFileLike]) -> int:
    """Upsert the files of a local folder (catalogued in place, one item per file)."""
    count = 0
    for local in files:
        item = upsert_item(session, job_id, local.relpath, "local", dict(local.metadata))
        upsert_file(
            session,
            job_id,
            local.relpath,
            {
                "item_id": item.id,
                "name": local.relpath,
                "path": str(local.path),
                "url": None,
                "format": local.metadata.get("suffix"),
                "origin": "local",
                "expected_size": local.size,
                "mtime": str(local.mtime),
            },
        )
        count += 1
    return count

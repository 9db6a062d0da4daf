"""Catalog writes for the source stage: upsert items and files, so re-running adds new rows and
updates changed ones without ever duplicating.

Writes are set-based per batch: the existing rows of a batch are fetched with one SELECT per
500 keys, new rows go in as one executemany INSERT (no RETURNING: on SQLite the ORM would send
RETURNING inserts one row at a time), and only rows whose values changed are updated, so a page
of thousands of items costs a handful of statements rather than one SELECT per row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.bulk import delete_file_samples
from db.models import File, Item, utcnow
from db.state import forget_file_targets

YEAR = re.compile(r"(\d{4})")
CHUNK = 500  # keys per IN (...) list: far below SQLite's and PostgreSQL's parameter limits

# What a source says about a file's content: when one of these changes, what was measured
# from the old content (size, md5, probe, samples) is stale and the file's targets start over.
CONTENT_COLUMNS = ("expected_size", "expected_md5", "mtime")
MEASURED_COLUMNS = (
    "size", "md5", "duration", "has_audio", "has_video", "container", "audio_codec",
    "video_codec", "sample_rate", "channels", "fps", "width", "height", "samples",
    "median_power", "median_hz", "median_clarity", "median_dur", "bad_packets",
    "nonfinite_samples",
)  # fmt: skip


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


@dataclass
class UpsertCounts:
    """What one upsert call did."""

    items_new: int = 0
    items_updated: int = 0
    files_new: int = 0
    files_updated: int = 0
    files_changed: int = 0  # content changed: measurements and targets reset

    def add(self, other: UpsertCounts) -> None:
        """Accumulate another call's counts into this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _text(value: Any) -> str | None:
    """archive.org fields are strings or lists of strings: store lists joined by '; '."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _int(value: Any) -> int | None:
    """An int from a number, a numeric string or the first of a list; None for junk."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _year(meta: dict[str, Any]) -> int | None:
    """The `year` field, else the first four digits of `date`."""
    year = _int(meta.get("year"))
    if year is None and meta.get("date"):
        found = YEAR.search(str(_text(meta["date"])))
        year = int(found.group(1)) if found else None
    return year


def _item_columns(meta: dict[str, Any]) -> dict[str, Any]:
    """The catalog columns of an item from its metadata (all of it kept in `meta`)."""
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


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _existing_items(session: Session, job_id: int, identifiers: Sequence[str]) -> dict[str, Item]:
    """The job's items among `identifiers`, by identifier (one SELECT per chunk)."""
    found: dict[str, Item] = {}
    for chunk in _chunks(identifiers):
        for item in session.scalars(
            select(Item).where(Item.job_id == job_id, Item.identifier.in_(chunk))
        ):
            found[item.identifier] = item
    return found


def _existing_files(session: Session, job_id: int, keys: Sequence[str]) -> dict[str, File]:
    """The job's files among `keys`, by key (one SELECT per chunk)."""
    found: dict[str, File] = {}
    for chunk in _chunks(keys):
        for file in session.scalars(select(File).where(File.job_id == job_id, File.key.in_(chunk))):
            found[file.key] = file
    return found


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def upsert_items(
    session: Session, job_id: int, source: str, rows: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, Item], UpsertCounts]:
    """Insert or update items by (job, identifier); returns them by identifier, with counts."""
    counts = UpsertCounts()
    unique = dict(rows)  # the last metadata of a repeated identifier wins
    items = _existing_items(session, job_id, list(unique))
    new: list[dict[str, Any]] = []
    for identifier, meta in unique.items():
        columns = _item_columns(meta)
        item = items.get(identifier)
        if item is None:
            new.append({"job_id": job_id, "identifier": identifier, "source": source, **columns})
        elif _assign(item, {"source": source, **columns}):
            item.updated_at = utcnow()
            counts.items_updated += 1
    session.flush()
    if new:
        session.execute(insert(Item), new)
        items.update(_existing_items(session, job_id, [row["identifier"] for row in new]))
    counts.items_new = len(new)
    return items, counts


def _reset_changed(session: Session, file_ids: Sequence[int]) -> None:
    """Forget what was derived from files whose content changed: samples and targets."""
    delete_file_samples(session, file_ids)
    forget_file_targets(session, file_ids)


def upsert_files(
    session: Session, job_id: int, rows: Sequence[tuple[str, dict[str, Any]]]
) -> UpsertCounts:
    """Insert or update files by (job, key).

    A file whose content columns (expected size, expected md5, mtime) changed loses its
    measurements, samples and targets, so the scheduler fetches or checksums it again.
    """
    counts = UpsertCounts()
    unique = dict(rows)
    files = _existing_files(session, job_id, list(unique))
    new: list[dict[str, Any]] = []
    changed_ids: list[int] = []
    for key, values in unique.items():
        file = files.get(key)
        if file is None:
            new.append({"job_id": job_id, "key": key, **values})
            continue
        content_changed = any(
            name in values and getattr(file, name) != values[name] for name in CONTENT_COLUMNS
        )
        if not _assign(file, values):
            continue
        file.updated_at = utcnow()
        counts.files_updated += 1
        if content_changed:
            for name in MEASURED_COLUMNS:
                setattr(file, name, None)
            if values.get("url") is not None:
                file.path = None  # a remote file's local copy is no longer known to be good
            changed_ids.append(file.id)
    session.flush()
    if new:
        session.execute(insert(File), new)
    if changed_ids:
        _reset_changed(session, changed_ids)
    counts.files_new = len(new)
    counts.files_changed = len(changed_ids)
    return counts


def upsert_item(
    session: Session, job_id: int, identifier: str, source: str, meta: dict[str, Any]
) -> Item:
    """Insert or update one item by (job, identifier)."""
    items, _ = upsert_items(session, job_id, source, [(identifier, meta)])
    return items[identifier]


def upsert_file(session: Session, job_id: int, key: str, values: dict[str, Any]) -> File:
    """Insert or update one file by (job, key); a changed checksum resets what was measured."""
    upsert_files(session, job_id, [(key, values)])
    file = session.scalar(select(File).where(File.job_id == job_id, File.key == key))
    assert file is not None
    return file


def upsert_scraped(
    session: Session, job_id: int, items: Iterable[ScrapedItemLike], *, url_for: Any
) -> UpsertCounts:
    """Upsert a page of archive.org items and their chosen files in a few statements."""
    page = list(items)
    by_id, counts = upsert_items(
        session, job_id, "internet_archive", [(s.identifier, s.metadata) for s in page]
    )
    rows = [
        (
            f"{scraped.identifier}/{remote.name}",
            {
                "item_id": by_id[scraped.identifier].id,
                "name": remote.name,
                "url": url_for(scraped.identifier, remote.name),
                "format": remote.format,
                "origin": remote.source,
                "expected_size": remote.size,
                "expected_md5": remote.md5,
                "mtime": remote.mtime,
            },
        )
        for scraped in page
        for remote in scraped.files
    ]
    counts.add(upsert_files(session, job_id, rows))
    return counts


def upsert_local(
    session: Session, job_id: int, files: Iterable[LocalFileLike], *, batch: int = 2000
) -> UpsertCounts:
    """Upsert the files of a local folder (catalogued in place, one item per file)."""
    counts = UpsertCounts()
    listing = list(files)
    for start in range(0, len(listing), batch):
        part = listing[start : start + batch]
        by_id, item_counts = upsert_items(
            session, job_id, "local", [(f.relpath, dict(f.metadata)) for f in part]
        )
        counts.add(item_counts)
        counts.add(
            upsert_files(
                session,
                job_id,
                [
                    (
                        local.relpath,
                        {
                            "item_id": by_id[local.relpath].id,
                            "name": local.relpath,
                            "path": str(local.path),
                            "url": None,
                            "format": local.metadata.get("suffix"),
                            "origin": "local",
                            "expected_size": local.size,
                            "mtime": str(local.mtime),
                        },
                    )
                    for local in part
                ],
            )
        )
    return counts

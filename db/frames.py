"""The picture stages' catalog rows: frame sets (where each file's arrays are), loops and
duplicates, replaced as a whole per file or per job so re-runs never duplicate them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import Duplicate, File, FrameSet, Loop


def store_frame_set(session: Session, file_id: int, **values: Any) -> None:
    """Insert or replace a file's frame set row."""
    session.execute(delete(FrameSet).where(FrameSet.file_id == file_id))
    session.add(FrameSet(file_id=file_id, **values))


def replace_loops(session: Session, job_id: int, file_id: int,
                  loops: Iterable[dict[str, Any]]) -> int:
    """Replace a file's loops; returns how many were stored."""
    session.execute(delete(Loop).where(Loop.file_id == file_id))
    rows = [Loop(job_id=job_id, file_id=file_id, **row) for row in loops]
    session.add_all(rows)
    return len(rows)


def replace_duplicates(session: Session, job_id: int,
                       duplicates: Iterable[dict[str, Any]]) -> int:
    """Replace a job's duplicates; returns how many were stored."""
    session.execute(delete(Duplicate).where(Duplicate.job_id == job_id))
    rows = [Duplicate(job_id=job_id, **row) for row in duplicates]
    session.add_all(rows)
    return len(rows)


def job_frame_sets(session: Session, job_id: int) -> list[tuple[int, str, str, str]]:
    """(file id, key, media path, frame set folder) of a job's files with a frame set."""
    rows = session.execute(
        select(File.id, File.key, File.path, FrameSet.path)
        .join(FrameSet, FrameSet.file_id == File.id)
        .where(File.job_id == job_id).order_by(File.id)
    )
    return [(int(i), str(k), str(p or ""), str(fs)) for i, k, p, fs in rows]


def frame_set_path(session: Session, file_id: int) -> str | None:
    """Where a file's frame set is, or None."""
    return session.scalar(select(FrameSet.path).where(FrameSet.file_id == file_id))

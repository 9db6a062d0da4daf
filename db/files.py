"""What stages learn about a file, written onto its row: size and md5 (checksum, download),
tracks and duration (probe), the samples' statistics (analyze)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import File, utcnow


def update_file(session: Session, file_id: int, **values: Any) -> None:
    """Set columns of one file (names as on `db.models.File`)."""
    unknown = sorted(set(values) - set(File.__table__.columns.keys()))
    if unknown:
        raise AttributeError(f"files has no column(s) {', '.join(unknown)}")
    session.execute(update(File).where(File.id == file_id).values(**values, updated_at=utcnow()))

"""Catalog reads for the sound-led renders: which films a job (or a subset) draws from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError
from db.models import File, Sample, Subset, SubsetMember


def job_films(session: Session, job_id: int, subset: str | None = None) -> list[tuple[int, str]]:
    """(file id, path) of the job's files with picture and sound, by id; with `subset`, only
    the files some member of that subset comes from."""
    query = (select(File.id, File.path).where(File.job_id == job_id, File.path.is_not(None),
                                              File.has_video.is_(True),
                                              File.has_audio.is_(True)))
    if subset:
        row = session.scalar(select(Subset.id).where(Subset.job_id == job_id,
                                                     Subset.name == subset))
        if row is None:
            raise ConfigError(f"job {job_id} has no subset named {subset!r}")
        members = (select(Sample.file_id).join(SubsetMember, SubsetMember.sample_id == Sample.id)
                   .where(SubsetMember.subset_id == row).distinct())
        query = query.where(File.id.in_(members))
    return [(int(i), str(p)) for i, p in session.execute(query.order_by(File.id))]

"""Files and samples as people and pages see them: one by id, a page of a job's, or any query
in the catalog's query language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from db.models import File, Sample, Target, TargetStatus


@dataclass(frozen=True)
class FileRecord:
    """A media file: where it is, what probing found, and its samples' statistics."""

    id: int
    job_id: int
    key: str
    name: str
    path: str | None
    url: str | None
    size: int | None
    duration: float | None
    has_audio: bool | None
    has_video: bool | None
    width: int | None
    height: int | None
    fps: float | None
    samples: int | None
    median_power: float | None
    median_hz: float | None
    median_clarity: float | None
    median_dur: float | None


_FILE_COLUMNS = [getattr(File, name) for name in FileRecord.__dataclass_fields__]


@dataclass(frozen=True)
class SampleRecord:
    """A sample: the file it is cut from, where, and its features (times in ms)."""

    id: int
    job_id: int
    file_id: int
    idx: int
    start: float
    dur: float
    power: float
    hz: float
    note: str
    octave: int
    midi: float
    clarity: float


_SAMPLE_COLUMNS = [getattr(Sample, name) for name in SampleRecord.__dataclass_fields__]


def get_file(session: Session, file_id: int) -> FileRecord:
    """One file; NotFoundError when there is none."""
    row = session.execute(select(*_FILE_COLUMNS).where(File.id == file_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no file {file_id}")
    return FileRecord(*row)


def files(
    session: Session, job_id: int, *, offset: int = 0, limit: int | None = None
) -> list[FileRecord]:
    """A job's files by id (a page of them with offset/limit)."""
    stmt = select(*_FILE_COLUMNS).where(File.job_id == job_id).order_by(File.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [FileRecord(*row) for row in session.execute(stmt)]


@dataclass(frozen=True)
class StoredFile:
    """A file whose download or checksum is done: what it must be and what was recorded."""

    file_id: int
    target_id: int
    stage: str
    key: str
    path: str | None
    url: str | None
    expected_size: int | None
    expected_md5: str | None
    size: int | None
    md5: str | None


def stored_files(session: Session, job_id: int, stages: Sequence[str]) -> list[StoredFile]:
    """The job's files whose target of one of `stages` is done, by file id."""
    rows = session.execute(
        select(File.id, Target.id, Target.stage, File.key, File.path, File.url,
               File.expected_size, File.expected_md5, File.size, File.md5)
        .join(Target, Target.file_id == File.id)
        .where(File.job_id == job_id, Target.stage.in_(stages),
               Target.status == TargetStatus.DONE)
        .order_by(File.id)
    ).all()
    return [StoredFile(*row) for row in rows]


def get_sample(session: Session, sample_id: int) -> SampleRecord:
    """One sample; NotFoundError when there is none."""
    found = samples(session, [sample_id])
    if not found:
        raise NotFoundError(f"no sample {sample_id}")
    return found[0]


def samples(session: Session, ids: Sequence[int]) -> list[SampleRecord]:
    """The samples with these ids, in the order given (missing ids are left out)."""
    by_id: dict[int, SampleRecord] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for row in session.execute(select(*_SAMPLE_COLUMNS).where(Sample.id.in_(chunk))):
            by_id[row[0]] = SampleRecord(*row)
    return [by_id[i] for i in ids if i in by_id]

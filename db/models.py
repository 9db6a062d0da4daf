"""Catalog models: jobs, items, files, samples, subsets, artifacts, targets and task runs.

The catalog is the source of truth for what is done. Every stage's work unit is a `Target`
row (one per job, stage and key); the scheduler derives everything from these rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger primary keys that still autoincrement on SQLite (INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Naive UTC now: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class JobStatus:
    """Job lifecycle values: active, then how it ended."""

    ACTIVE = "active"
    DONE = "done"  # every target done or skipped
    PARTIAL = "partial"  # done, but some targets failed ("done, 4 failed")
    FAILED = "failed"  # targets failed and the last stage made nothing usable
    CANCELLED = "cancelled"
    ENDED = (DONE, PARTIAL, FAILED, CANCELLED)


class TargetStatus:
    """Target lifecycle values; `OPEN` ones are still to be worked on."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    OPEN = (PENDING, QUEUED, RUNNING)
    FINISHED = (DONE, FAILED, SKIPPED)


class Job(Base):
    """A submitted collection job: its validated spec and where it stands."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_toml: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.ACTIVE, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Item(Base):
    """A source record (an archive.org item, or a local folder's file) with its metadata."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("job_id", "identifier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str | None] = mapped_column(Text)
    date: Mapped[str | None] = mapped_column(String(64))
    year: Mapped[int | None] = mapped_column(Integer)
    collection: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    licenseurl: Mapped[str | None] = mapped_column(Text)
    downloads: Mapped[int | None] = mapped_column(BigInteger)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class File(Base):
    """One media asset: where it is, what it should be, what probing and analysis found."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("job_id", "key"), Index(None, "item_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    path: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(128))
    origin: Mapped[str | None] = mapped_column(String(32))
    expected_size: Mapped[int | None] = mapped_column(BigInteger)
    expected_md5: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column(BigInteger)
    md5: Mapped[str | None] = mapped_column(String(32))
    mtime: Mapped[str | None] = mapped_column(String(64))
    # probe
    duration: Mapped[float | None] = mapped_column(Float)
    has_audio: Mapped[bool | None] = mapped_column(Boolean)
    has_video: Mapped[bool | None] = mapped_column(Boolean)
    container: Mapped[str | None] = mapped_column(String(64))
    audio_codec: Mapped[str | None] = mapped_column(String(64))
    video_codec: Mapped[str | None] = mapped_column(String(64))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(SmallInteger)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # analysis statistics
    samples: Mapped[int | None] = mapped_column(Integer)
    median_power: Mapped[float | None] = mapped_column(Float)
    median_hz: Mapped[float | None] = mapped_column(Float)
    median_clarity: Mapped[float | None] = mapped_column(Float)
    median_dur: Mapped[float | None] = mapped_column(Float)
    # what decoding its audio had to repair (worker.analysis.decode.DecodeFaults)
    bad_packets: Mapped[int | None] = mapped_column(Integer)
    nonfinite_samples: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Sample(Base):
    """One onset-cut sample of a file's audio with its features (times in ms).

    The hot row holds only what filters, sorts and renders read: its 39-float spectral vector
    lives in the file's `SampleVectors` row (vectors were 156 of the row's ~260 bytes, and
    PostgreSQL inserts are bound by bytes written: docs/bench-catalog.md).
    """

    __tablename__ = "samples"
    __table_args__ = (
        # Samples by file. On PostgreSQL a plain file_id index: B-tree deduplication stores a
        # file's samples under one key (a few bytes a row), where (file_id, idx) would cost
        # an entry of ~30 bytes a row on every bulk insert.
        Index(None, "file_id", "idx").ddl_if(dialect="sqlite"),
        Index(None, "file_id").ddl_if(dialect="postgresql"),
        # SQLite only: on PostgreSQL every index costs each bulk-inserted row an entry, and
        # queries naming a job reach its samples through its files (migration 0008).
        Index(None, "job_id", "file_id").ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys to jobs or files: samples are written in bulk (tens of millions) and the
    # per-row checks cost half of PostgreSQL's COPY rate (docs/benchmarks.md). Samples are only
    # ever replaced or deleted per file, through db/bulk.py (delete_file_samples).
    job_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[int] = mapped_column(BigInteger)
    idx: Mapped[int] = mapped_column(Integer)  # 0..n-1 in the file: its row in SampleVectors
    start: Mapped[float] = mapped_column(Float)
    dur: Mapped[float] = mapped_column(Float)
    power: Mapped[float] = mapped_column(Float)
    hz: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String(8))
    octave: Mapped[int] = mapped_column(SmallInteger)
    midi: Mapped[float] = mapped_column(Float)
    clarity: Mapped[float] = mapped_column(Float)


class SampleVectors(Base):
    """A file's sample vectors, one row per file: `count` x 39 little-endian float32, row i
    being the sample with idx i (NaN rows for samples without one).

    One row per file instead of one per sample: writing a file's vectors costs one row (and a
    few TOAST chunks) rather than n, and a layout reads only the slices it needs (PostgreSQL
    stores `data` uncompressed out of line, so `substring` fetches just those chunks). The
    foreign key is per file, not per sample, so it costs nothing measurable and makes a file's
    (or job's) deletion take its vectors along.
    """

    __tablename__ = "sample_vectors"

    file_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("files.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    job_id: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SubsetCandidate(Base):
    """One file's per-file subset stage for one spec, stored when the file's samples are written.

    `spec_key` is `db.subsets.candidate_key` of the spec's per-file part (sample filter, sort,
    per-file limit). A file's rows for a key are its ranked samples (their base order and sort
    key values, so the job-level subset ranks them without reading `samples`) plus one marker
    row with sample_id 0 saying the set is complete (a file with no candidates has only the
    marker). Replaced and deleted with the file's samples (`db.bulk.delete_file_samples`); no
    foreign keys, like samples (bulk writes).
    """

    __tablename__ = "subset_candidates"

    file_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    spec_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sample_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    start: Mapped[float | None] = mapped_column(Float)
    k0: Mapped[float | None] = mapped_column(Float)
    k1: Mapped[float | None] = mapped_column(Float)
    k2: Mapped[float | None] = mapped_column(Float)
    k3: Mapped[float | None] = mapped_column(Float)


class Subset(Base):
    """A named, stored selection of samples for later stages."""

    __tablename__ = "subsets"
    __table_args__ = (UniqueConstraint("job_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    members_count: Mapped[int] = mapped_column(Integer, default=0)
    members_digest: Mapped[str | None] = mapped_column(String(64))
    layout: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class SubsetMember(Base):
    """A sample's place in a subset: order, t-SNE coordinates, grid cell, picture span."""

    __tablename__ = "subset_members"
    __table_args__ = (Index(None, "subset_id", "sample_id"),)

    subset_id: Mapped[int] = mapped_column(
        ForeignKey("subsets.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    tsne: Mapped[float | None] = mapped_column(Float)
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    col: Mapped[int | None] = mapped_column(Integer)
    row: Mapped[int | None] = mapped_column(Integer)
    vstart: Mapped[float | None] = mapped_column(Float)  # picture span (vsamples stage), ms
    vdur: Mapped[float | None] = mapped_column(Float)


class Artifact(Base):
    """A rendered output (audio, video, plot) and the parameters that made it."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    subset_id: Mapped[int | None] = mapped_column(ForeignKey("subsets.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    size: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Target(Base):
    """One unit of work: a stage applied to a key (a file id, a subset name, the job)."""

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("job_id", "stage", "key"),
        # counts by status (index-only) and a stage's recent completions (a range)
        Index(None, "job_id", "stage", "status", "finished_at"),
        Index(None, "file_id", "stage"),
        Index(None, "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=TargetStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker: Mapped[str | None] = mapped_column(String(200))
    run_token: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)


class TaskRun(Base):
    """One attempt at a target by a worker, kept as history with its error and traceback."""

    __tablename__ = "task_runs"
    __table_args__ = (
        Index(None, "target_id"),
        Index(None, "job_id", "stage", "started_at"),
        Index(None, "run_token"),  # every commit, failure and lease recovery looks runs up by it
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    run_token: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)


class Checkpoint(Base):
    """A running target's resumable progress (JSON its stage owns), written in the same
    transaction as the results it describes, so a killed run's successor carries on from it;
    removed when the target is done."""

    __tablename__ = "checkpoints"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class FrameSet(Base):
    """A file's per-frame fingerprints: arrays on disk (worker/frames/store.py), not rows;
    this row says where they are and at what frame rate and times they were taken."""

    __tablename__ = "frame_sets"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(Text)
    frames: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    every: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(SmallInteger, default=0)
    decode_errors: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Loop(Base):
    """Frames of a file shown again later in the same file (times in seconds)."""

    __tablename__ = "loops"
    __table_args__ = (Index(None, "job_id"), Index(None, "file_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    first_frame: Mapped[int] = mapped_column(Integer)
    repeat_frame: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    first_start: Mapped[float] = mapped_column(Float)
    repeat_start: Mapped[float] = mapped_column(Float)
    length: Mapped[float] = mapped_column(Float)
    similarity: Mapped[float] = mapped_column(Float)
    period: Mapped[float | None] = mapped_column(Float)
    copies: Mapped[int] = mapped_column(Integer, default=2)


class Duplicate(Base):
    """A stretch of one file's picture shown in another file (times in seconds)."""

    __tablename__ = "duplicates"
    __table_args__ = (Index(None, "job_id"), Index(None, "file_a"), Index(None, "file_b"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    file_a: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    file_b: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    a_frame: Mapped[int] = mapped_column(Integer)
    b_frame: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    a_start: Mapped[float] = mapped_column(Float)
    b_start: Mapped[float] = mapped_column(Float)
    length: Mapped[float] = mapped_column(Float)
    similarity: Mapped[float] = mapped_column(Float)

"""Subsets as people and pages see them: the stored selections, and their members with the
sample's features, the layout's coordinates and grid cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from db.models import Sample, Subset, SubsetMember


@dataclass(frozen=True)
class SubsetRecord:
    """A stored subset: its spec, member count and digest, and its layout's figures."""

    id: int
    job_id: int
    name: str
    spec: dict[str, Any]
    count: int
    digest: str | None
    layout: dict[str, Any] | None


def _record(s: Subset) -> SubsetRecord:
    return SubsetRecord(s.id, s.job_id, s.name, dict(s.spec or {}), s.members_count,
                        s.members_digest, dict(s.layout) if s.layout else None)


def subsets(session: Session, job_id: int | None = None) -> list[SubsetRecord]:
    """Stored subsets, of one job or all, by job and name."""
    stmt = select(Subset).order_by(Subset.job_id, Subset.name)
    if job_id is not None:
        stmt = stmt.where(Subset.job_id == job_id)
    return [_record(s) for s in session.scalars(stmt)]


def get_subset(session: Session, job_id: int, name: str) -> SubsetRecord:
    """The subset `name` of a job; NotFoundError listing the job's subsets otherwise."""
    found = session.scalar(select(Subset).where(Subset.job_id == job_id, Subset.name == name))
    if found is None:
        names = ", ".join(s.name for s in subsets(session, job_id)) or "(none)"
        raise NotFoundError(f"job {job_id} has no subset named {name!r}; it has: {names}")
    return _record(found)


@dataclass(frozen=True)
class MemberRecord:
    """One member of a subset: its place, its sample, and where the layout put it."""

    position: int
    sample_id: int
    file_id: int
    start: float
    dur: float
    power: float
    hz: float
    note: str
    clarity: float
    tsne: float | None
    x: float | None
    y: float | None
    col: int | None
    row: int | None


def members(
    session: Session, job_id: int, name: str, *, offset: int = 0, limit: int | None = None
) -> list[MemberRecord]:
    """A subset's members in order (a page of them with offset/limit)."""
    subset = get_subset(session, job_id, name)
    stmt = (
        select(SubsetMember.position, SubsetMember.sample_id, Sample.file_id, Sample.start,
               Sample.dur, Sample.power, Sample.hz, Sample.note, Sample.clarity,
               SubsetMember.tsne, SubsetMember.x, SubsetMember.y, SubsetMember.col,
               SubsetMember.row)
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .where(SubsetMember.subset_id == subset.id)
        .order_by(SubsetMember.position)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [MemberRecord(*row) for row in session.execute(stmt)]

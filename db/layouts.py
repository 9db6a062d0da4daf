"""Catalog side of layout and rendering: a subset's vectors (cached by member digest), its
stored coordinates and grid cells, the clips a render reads, and the artifacts it leaves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from core.render_kinds import MEMBER_VALUES
from db.bulk import load_vectors
from db.models import File, Sample, Subset, SubsetMember, utcnow
from db.subsets import members_digest


@dataclass(frozen=True)
class LayoutInputs:
    """What the layout computation needs of a subset, in member order."""

    subset_id: int
    sample_ids: list[int]
    vectors: np.ndarray
    features: dict[str, np.ndarray]
    digest: str


def subset_row(session: Session, job_id: int, name: str) -> Subset:
    subset = session.scalar(select(Subset).where(Subset.job_id == job_id, Subset.name == name))
    if subset is None:
        raise NotFoundError(f"job {job_id} has no subset named {name!r}")
    return subset


def load_layout_inputs(
    session: Session,
    job_id: int,
    name: str,
    *,
    features: Sequence[str],
    cache_dir: Path | None = None,
) -> LayoutInputs:
    """Member ids, spectral vectors and the named sample `features` of a subset, in order.

    Vectors are cached in `cache_dir` under the digest of the ordered member ids: a subset whose
    members change (re-selection, or re-analysis, which gives samples new ids) misses the cache.
    """
    subset = subset_row(session, job_id, name)
    rows = session.execute(
        select(SubsetMember.sample_id, *(getattr(Sample, f) for f in features))
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .where(SubsetMember.subset_id == subset.id)
        .order_by(SubsetMember.position)
    ).all()
    ids = [r[0] for r in rows]
    digest = members_digest(ids)
    values = {
        key: np.array([r[i + 1] for r in rows], dtype=np.float64)
        for i, key in enumerate(features)
    }
    cached = cache_dir / f"vectors-{digest}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        vectors = np.load(cached)
    else:
        vectors = load_vectors(session, ids) if ids else np.zeros((0, 39), np.float32)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(cached)
    return LayoutInputs(subset.id, ids, vectors, values, digest)


def store_layout(
    session: Session,
    subset_id: int,
    sample_ids: Sequence[int],
    *,
    tsne: np.ndarray | None,
    xy: np.ndarray | None,
    cells: np.ndarray | None,
    info: dict[str, Any],
) -> None:
    """Write coordinates and grid cells onto the subset's members (None clears them)."""
    positions = dict(session.execute(
        select(SubsetMember.sample_id, SubsetMember.position)
        .where(SubsetMember.subset_id == subset_id)).all())
    session.execute(
        update(SubsetMember).where(SubsetMember.subset_id == subset_id)
        .values(tsne=None, x=None, y=None, col=None, row=None)
    )
    params = []
    for i, sample_id in enumerate(sample_ids):
        values: dict[str, Any] = {"b_subset": subset_id, "b_position": positions[sample_id]}
        values["tsne"] = float(tsne[i]) if tsne is not None else None
        values["x"] = float(xy[i, 0]) if xy is not None else None
        values["y"] = float(xy[i, 1]) if xy is not None else None
        has_cell = cells is not None and cells[i, 0] >= 0
        values["col"] = int(cells[i, 0]) if has_cell else None  # type: ignore[index]
        values["row"] = int(cells[i, 1]) if has_cell else None  # type: ignore[index]
        params.append(values)
    if params:
        from sqlalchemy import bindparam

        stmt = (
            update(SubsetMember.__table__)
            .where(SubsetMember.__table__.c.subset_id == bindparam("b_subset"))
            .where(SubsetMember.__table__.c.position == bindparam("b_position"))
            .values(tsne=bindparam("tsne"), x=bindparam("x"), y=bindparam("y"),
                    col=bindparam("col"), row=bindparam("row"))
        )
        session.connection().execute(stmt, params)
    session.execute(
        update(Subset).where(Subset.id == subset_id).values(layout=info, updated_at=utcnow())
    )


@dataclass(frozen=True)
class MemberClip:
    """One member of a subset as a render reads it: where its audio is and its sort values."""

    sample_id: int
    path: str
    start: float
    dur: float
    values: dict[str, float | None]


def _member_column(name: str) -> Any:
    """The column of a member value: the layout's on subset_members, the rest on samples."""
    column = getattr(SubsetMember, name, None)
    return column if column is not None else getattr(Sample, name)


def subset_clips(session: Session, job_id: int, name: str) -> list[MemberClip]:
    """Every member of a subset with its source file path and sortable values, in order."""
    subset = subset_row(session, job_id, name)
    rows = session.execute(
        select(SubsetMember.sample_id, File.path, Sample.start, Sample.dur,
               *(_member_column(v) for v in MEMBER_VALUES))
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .join(File, File.id == Sample.file_id)
        .where(SubsetMember.subset_id == subset.id)
        .order_by(SubsetMember.position)
    ).all()
    return [MemberClip(r[0], r[1] or "", r[2], r[3], dict(zip(MEMBER_VALUES, r[4:], strict=True)))
            for r in rows]


# --- picture spans (the vsamples stage) and the grid a grid video reads --------------------


def grid_subset_ids(session: Session, job_id: int, subsets: Sequence[str]) -> list[int]:
    """Ids of the named subsets of a job (those that exist)."""
    if not subsets:
        return []
    return list(session.scalars(
        select(Subset.id).where(Subset.job_id == job_id, Subset.name.in_(list(subsets)))
        .order_by(Subset.id)))


def vsample_files(session: Session, job_id: int, subsets: Sequence[str]) -> list[int]:
    """The files holding members with a grid cell in the named subsets (vsamples visits each
    once), by id."""
    ids = grid_subset_ids(session, job_id, subsets)
    if not ids:
        return []
    return sorted(session.scalars(
        select(Sample.file_id).distinct()
        .join(SubsetMember, SubsetMember.sample_id == Sample.id)
        .where(SubsetMember.subset_id.in_(ids), SubsetMember.col.is_not(None))))


@dataclass(frozen=True)
class SpanMember:
    """A member whose picture span vsamples computes: where it is and its sound's span."""

    subset_id: int
    position: int
    start: float
    dur: float


def vsample_members(session: Session, job_id: int, subsets: Sequence[str],
                    file_id: int) -> list[SpanMember]:
    """The members with a grid cell of the named subsets whose sample is in this file, in
    the file's time order."""
    ids = grid_subset_ids(session, job_id, subsets)
    if not ids:
        return []
    rows = session.execute(
        select(SubsetMember.subset_id, SubsetMember.position, Sample.start, Sample.dur)
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .where(SubsetMember.subset_id.in_(ids), SubsetMember.col.is_not(None),
               Sample.file_id == file_id)
        .order_by(Sample.start, SubsetMember.subset_id, SubsetMember.position)).all()
    return [SpanMember(int(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in rows]


def store_vspans(session: Session, members: Sequence[SpanMember], vstart: Sequence[float],
                 vdur: Sequence[float]) -> None:
    """Write each member's picture span (ms); re-writing the same values is harmless."""
    if not members:
        return
    from sqlalchemy import bindparam

    table = SubsetMember.__table__
    stmt = (update(table)
            .where(table.c.subset_id == bindparam("b_subset"))
            .where(table.c.position == bindparam("b_position"))
            .values(vstart=bindparam("b_vstart"), vdur=bindparam("b_vdur")))
    session.connection().execute(stmt, [
        {"b_subset": m.subset_id, "b_position": m.position, "b_vstart": float(vs),
         "b_vdur": float(vd)}
        for m, vs, vd in zip(members, vstart, vdur, strict=True)])


@dataclass(frozen=True)
class GridRow:
    """A member with a grid cell as a grid video reads it (vstart/vdur None: not computed)."""

    sample_id: int
    col: int
    row: int
    x: float | None
    y: float | None
    start: float
    dur: float
    vstart: float | None
    vdur: float | None
    file_id: int
    path: str


def grid_rows(session: Session, subset_id: int) -> list[GridRow]:
    """The subset's members with a grid cell, in member order, with their picture spans."""
    rows = session.execute(
        select(SubsetMember.sample_id, SubsetMember.col, SubsetMember.row, SubsetMember.x,
               SubsetMember.y, Sample.start, Sample.dur, SubsetMember.vstart, SubsetMember.vdur,
               File.id, File.path)
        .join(Sample, Sample.id == SubsetMember.sample_id)
        .join(File, File.id == Sample.file_id)
        .where(SubsetMember.subset_id == subset_id, SubsetMember.col.is_not(None))
        .order_by(SubsetMember.position)).all()
    return [GridRow(*r[:10], r[10] or "") for r in rows]

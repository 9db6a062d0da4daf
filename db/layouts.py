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

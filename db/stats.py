"""Catalog statistics computed in SQL: totals, 50-bin histograms and scatter points."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Integer, and_, case, cast, func, or_, select, true
from sqlalchemy.orm import Session

from db.models import File, Item, Sample, Subset, Target
from db.query.columns import MODELS, resolve, valid_names
from db.query.compile import compile_filter, join_tables
from db.query.errors import ExpressionError

FILE_PROPS = ("duration", "samples", "medianPower", "medianHz", "medianClarity", "medianDur")
SAMPLE_PROPS = ("power", "hz", "clarity", "dur")
PITCH_PROPS = frozenset({"hz", "midi", "medianHz"})
"""Properties that are 0 for unpitched samples (and files): plots leave those out, counted."""
BINS = 50


@dataclass
class Totals:
    """Headline counts of a job (or of every job)."""

    items: int
    files: int
    files_with_audio: int
    files_with_samples: int
    duration_hours: float
    samples: int
    subsets: int
    stages: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Histogram:
    """Counts of a property's values in equal-width bins; `edges` has one more entry."""

    scope: str
    prop: str
    edges: np.ndarray
    counts: np.ndarray
    values: int
    empty: int
    unpitched: int = 0  # rows left out of a pitch property's histogram: 0 means no pitch


def _job(stmt: Any, model: Any, job_id: int | None) -> Any:
    return stmt if job_id is None else stmt.where(model.job_id == job_id)


def totals(session: Session, job_id: int | None = None) -> Totals:
    """Item, file, audio, sample and subset counts, hours of media, targets per stage/status."""
    f = session.execute(
        _job(
            select(
                func.count(),
                func.coalesce(func.sum(case((File.has_audio.is_(True), 1), else_=0)), 0),
                func.coalesce(func.sum(case((File.samples > 0, 1), else_=0)), 0),
                func.coalesce(func.sum(File.duration), 0.0),
            ),
            File,
            job_id,
        )
    ).one()
    count = lambda model: int(  # noqa: E731
        session.scalar(_job(select(func.count()).select_from(model), model, job_id)) or 0
    )
    stages: dict[str, dict[str, int]] = {}
    stmt = _job(select(Target.stage, Target.status, func.count()), Target, job_id)
    for stage, status, n in session.execute(stmt.group_by(Target.stage, Target.status)):
        stages.setdefault(stage, {})[status] = int(n)
    return Totals(
        items=count(Item),
        files=int(f[0]),
        files_with_audio=int(f[1]),
        files_with_samples=int(f[2]),
        duration_hours=float(f[3]) / 3600,
        samples=count(Sample),
        subsets=count(Subset),
        stages=stages,
    )


def numeric_column(prop: str, scope: str) -> Any:
    """The SQL column of a numeric property; ExpressionError naming the valid ones."""
    spec = resolve(prop, scope)
    if spec is None or spec.kind != "num":
        names = [n for n in valid_names(scope) if (s := resolve(n, scope)) and s.kind == "num"]
        raise ExpressionError(f"{prop!r} is not a numeric {scope} property", prop, 0,
                              len(prop), names)  # fmt: skip
    return spec


def _filtered(stmt: Any, scope: str, where: str | None, specs: list, job_id: int | None) -> Any:
    compiled = compile_filter(where, scope)
    tables = set(compiled.tables) | {s.table for s in specs if s.table != scope}
    stmt = join_tables(stmt.select_from(MODELS[scope]), scope, tables).where(compiled.where)
    return _job(stmt, MODELS[scope], job_id)


def histogram(
    session: Session,
    scope: str,
    prop: str,
    *,
    job_id: int | None = None,
    where: str | None = None,
    bins: int = BINS,
) -> Histogram:
    """A `bins`-bin histogram of `prop` over the scope's rows passing `where`, binned in SQL."""
    spec = numeric_column(prop, scope)
    col = spec.column
    unpitched = 0
    if prop in PITCH_PROPS:
        stmt = select(func.count()).where(col <= 0)
        unpitched = int(session.scalar(_filtered(stmt, scope, where, [spec], job_id)) or 0)
    pitched = col > 0 if prop in PITCH_PROPS else true()
    stmt = select(func.min(col), func.max(col), func.count(col), func.count())
    lo, hi, n, total = session.execute(
        _filtered(stmt, scope, where, [spec], job_id).where(pitched)).one()
    counts = np.zeros(bins, dtype=np.int64)
    if not n:
        return Histogram(scope, prop, np.linspace(0, 1, bins + 1), counts, 0, int(total),
                         unpitched)
    lo, hi = float(lo), float(hi)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    scaled = (col - lo) * (bins / (hi - lo))
    dialect = session.get_bind().dialect.name
    index = func.floor(scaled) if dialect == "postgresql" else cast(scaled, Integer)
    stmt = select(index.label("bin"), func.count()).where(col.is_not(None), pitched)
    stmt = _filtered(stmt, scope, where, [spec], job_id).group_by(index)
    for b, c in session.execute(stmt):
        counts[min(max(int(b), 0), bins - 1)] += int(c)
    return Histogram(scope, prop, np.linspace(lo, hi, bins + 1), counts, int(n), int(total - n),
                     unpitched)


def scatter_points(
    session: Session,
    scope: str,
    x: str,
    y: str,
    *,
    job_id: int | None = None,
    where: str | None = None,
    max_points: int = 200_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Two properties' values, streamed; every k-th row by id when more than `max_points`.
    Rows whose pitch property is 0 (unpitched) are left out; `unpitched_rows` counts them."""
    sx, sy = numeric_column(x, scope), numeric_column(y, scope)
    model = MODELS[scope]
    cond = and_(sx.column.is_not(None), sy.column.is_not(None),
                *(s.column > 0 for p, s in ((x, sx), (y, sy)) if p in PITCH_PROPS))
    count = _filtered(select(func.count()), scope, where, [sx, sy], job_id).where(cond)
    n = int(session.scalar(count) or 0)
    stmt = _filtered(select(sx.column, sy.column), scope, where, [sx, sy], job_id).where(cond)
    if n > max_points:
        stmt = stmt.where(model.id % math.ceil(n / max_points) == 0)
    xs: list[float] = []
    ys: list[float] = []
    for part in session.execute(stmt.execution_options(yield_per=50_000)).partitions():
        for a, b in part:
            xs.append(a)
            ys.append(b)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def unpitched_rows(
    session: Session, scope: str, props: list[str], *, job_id: int | None = None,
    where: str | None = None,
) -> int:
    """How many rows a plot of these properties leaves out because a pitch property is 0."""
    specs = [numeric_column(p, scope) for p in props]
    zero = [s.column <= 0 for p, s in zip(props, specs, strict=True) if p in PITCH_PROPS]
    if not zero:
        return 0
    stmt = _filtered(select(func.count()), scope, where, specs, job_id).where(or_(*zero))
    return int(session.scalar(stmt) or 0)

"""Sort stages with trims as SQL: window functions over nested subqueries, optionally per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from db.query.compile import sql_value
from db.query.nodes import SortKey

_P1, _P2, _MUL = 2147483647, 2147483629, 1103515245
RANKING_WORK_MEM = "256MB"


def tune_for_ranking(session: Session) -> None:
    """PostgreSQL, this transaction only: sort in memory, and skip JIT (seconds of compile)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{RANKING_WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))


def random_key(id_col: Any, seed: int) -> ColumnElement[Any]:
    """A seeded pseudo-random order of ids, computed identically by SQL and `random_key_py`."""
    s = seed % _P1
    h1 = ((id_col + s) * _MUL + 12345) % _P1
    return (h1 * h1 + s) % _P2


def random_key_py(sample_id: int, seed: int) -> int:
    """The Python twin of `random_key`."""
    s = seed % _P1
    h1 = ((sample_id + s) * _MUL + 12345) % _P1
    return (h1 * h1 + s) % _P2


def key_columns(keys: Sequence[SortKey], id_col: Any) -> list[ColumnElement[Any]]:
    """The value each sort stage orders by, labelled `_k0`, `_k1`, …."""
    out = []
    for j, key in enumerate(keys):
        expr = random_key(id_col, key.seed or 0) if key.is_random else sql_value(key.column)
        out.append(expr.label(f"_k{j}"))
    return out


def stage_order(sq: Subquery, keys: Sequence[SortKey], upto: int, base: Sequence[str]) -> list:
    """Stable-sort semantics of stages 0..upto: the latest key first, earlier keys break ties."""
    order = []
    for j in range(upto, -1, -1):
        col = sq.c[f"_k{j}"]
        order.append((col.desc() if keys[j].descending else col.asc()).nulls_last())
    return order + [sq.c[b] for b in base]


def _trim_keep(rn: Any, n: Any, trim: float, target: int | None) -> ColumnElement[bool]:
    """Rows a trim keeps: ceil(n × fraction) (at least `target`), or the first `trim` rows."""
    if trim > 1:
        return rn <= int(trim)
    keep = (rn - 1) < n * cast(literal(trim), Float)
    return or_(keep, rn <= target) if target else keep


def apply_stages(
    inner: Select,
    keys: Sequence[SortKey],
    base: Sequence[str],
    *,
    target: int | None,
    partition: str | None = None,
) -> Subquery:
    """`inner` (with `_k*` and base-order columns) after every trimming stage, as a subquery."""
    sq = inner.subquery()
    for i, key in enumerate(keys):
        if key.trim is None:
            continue
        part = [sq.c[partition]] if partition else None
        # One window for the rank and the count (a whole-partition frame, which row_number
        # ignores): the database computes both in one pass over one sort, not two.
        order = stage_order(sq, keys, i, base)
        extra = [func.row_number().over(partition_by=part, order_by=order,
                                        rows=(None, None)).label("_rn")]  # fmt: skip
        if key.trim <= 1:
            extra.append(func.count().over(partition_by=part, order_by=order,
                                           rows=(None, None)).label("_n"))  # fmt: skip
        win = select(*sq.c, *extra).subquery()
        n = win.c._n if key.trim <= 1 else None
        keep = _trim_keep(win.c._rn, n, key.trim, target)
        sq = select(*[win.c[c.name] for c in sq.c]).where(keep).subquery()
    return sq


def limit_per(
    sq: Subquery, keys: Sequence[SortKey], base: Sequence[str], partition: str, limit: int
) -> Subquery:
    """At most `limit` rows of each `partition` value, the first in the final stage order."""
    order = stage_order(sq, keys, len(keys) - 1, base)
    rn = func.row_number().over(partition_by=sq.c[partition], order_by=order).label("_rn")
    win = select(*sq.c, rn).subquery()
    return select(*[win.c[c.name] for c in sq.c]).where(win.c._rn <= limit).subquery()


def ordered(
    sq: Subquery, keys: Sequence[SortKey], base: Sequence[str], columns: Sequence[str]
) -> Select:
    """SELECT `columns` of `sq` in the final stage order."""
    return select(*[sq.c[c] for c in columns]).order_by(*stage_order(sq, keys, len(keys) - 1, base))

"""Compile parsed filters to SQLAlchemy clauses (bound parameters only) and to Python predicates."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    func,
    literal,
    not_,
    or_,
    true,
)

from db.models import File, Item, Loop, Sample
from db.query.columns import ColumnSpec, check_scope, row_key
from db.query.nodes import And, Condition, Node
from db.query.parser import parse_filter

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class CompiledFilter:
    """A WHERE clause and the other tables (`files`, `items`) it needs joined."""

    where: ColumnElement[bool]
    tables: frozenset[str]


def _tables(node: Node | None, scope: str) -> frozenset[str]:
    if node is None:
        return frozenset()
    if isinstance(node, Condition):
        return frozenset() if node.column.table == scope else frozenset({node.column.table})
    return frozenset().union(*(_tables(p, scope) for p in node.parts))


def sql_value(spec: ColumnSpec) -> ColumnElement[Any]:
    """The column as compared and sorted: lower-cased for text."""
    col = spec.column
    return func.lower(col) if spec.kind == "text" else col


def _condition_sql(c: Condition) -> ColumnElement[bool]:
    col = c.column.column
    text = c.column.kind == "text"
    empty = or_(col.is_(None), col == "") if text else col.is_(None)
    if c.op == "?=":
        return not_(empty) if not text else and_(col.is_not(None), col != "")
    if c.op == "!?=":
        return empty
    if c.op in ("~=", "!~="):
        contains = col.icontains(str(c.value), autoescape=True)
        return contains if c.op == "~=" else or_(col.is_(None), not_(contains))
    left = func.lower(col) if text else col
    right = func.lower(literal(c.value, String())) if text else _typed(c)
    clause = _CMP[c.op](left, right)
    return or_(col.is_(None), clause) if c.op == "!=" else clause


def _typed(c: Condition) -> ColumnElement[Any]:
    """The value bound with a type that keeps the column's index usable (no numeric casts)."""
    col_type = c.column.column.type
    if c.column.kind == "bool":
        return literal(bool(c.value), Boolean())
    value = float(c.value)  # type: ignore[arg-type]
    if isinstance(col_type, Integer) and value.is_integer():
        return literal(int(value), col_type)
    return literal(value, Float())


def _node_sql(node: Node) -> ColumnElement[bool]:
    if isinstance(node, Condition):
        return _condition_sql(node)
    parts = [_node_sql(p) for p in node.parts]
    return and_(*parts) if isinstance(node, And) else or_(*parts)


def compile_filter(expr: str | None, scope: str) -> CompiledFilter:
    """The SQL clause for `expr` in `scope` (`samples`, `files`, `items`); true when empty."""
    check_scope(scope)
    node = parse_filter(expr, scope)
    where = true() if node is None else _node_sql(node)
    return CompiledFilter(where, _tables(node, scope))


def join_tables(stmt: Select, scope: str, tables: frozenset[str] | set[str]) -> Select:
    """`stmt` (selecting from the scope's table) joined to files and items as `tables` need."""
    if scope == "samples" and tables & {"files", "items"}:
        stmt = stmt.join(File, File.id == Sample.file_id)
    if scope == "loops" and tables & {"files", "items"}:
        stmt = stmt.join(File, File.id == Loop.file_id)
    if scope in ("samples", "files", "loops") and "items" in tables:
        stmt = stmt.outerjoin(Item, Item.id == File.item_id)
    return stmt


def apply_filter(stmt: Select, scope: str, expr: str | None) -> Select:
    """`stmt` with the filter's joins and WHERE clause added."""
    compiled = compile_filter(expr, scope)
    return join_tables(stmt, scope, compiled.tables).where(compiled.where)


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _condition_fn(c: Condition, scope: str) -> Callable[[Mapping[str, Any]], bool]:
    key, alt, kind, op, want = row_key(c.column, scope), c.column.name, c.column.kind, c.op, c.value

    def get(row: Mapping[str, Any]) -> Any:
        value = row.get(key, row.get(alt))
        if kind == "text" and value is not None:
            return str(value)
        return value

    if op == "?=":
        return lambda row: not _is_empty(get(row))
    if op == "!?=":
        return lambda row: _is_empty(get(row))
    if op in ("~=", "!~="):
        needle = str(want).lower()
        negate = op == "!~="

        def contains(row: Mapping[str, Any]) -> bool:
            value = get(row)
            if value is None:
                return negate
            return (needle in value.lower()) != negate

        return contains
    cmp = _CMP[op]
    if kind == "text":
        target: Any = str(want).lower()
    elif kind == "bool":
        target = bool(want)
    else:
        target = float(want)  # type: ignore[arg-type]

    def compare(row: Mapping[str, Any]) -> bool:
        value = get(row)
        if value is None:
            return op == "!="
        if kind == "text":
            value = value.lower()
        elif kind == "bool":
            value = bool(value)
        else:
            value = float(value)
        return bool(cmp(value, target))

    return compare


def _node_fn(node: Node, scope: str) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(node, Condition):
        return _condition_fn(node, scope)
    parts = [_node_fn(p, scope) for p in node.parts]
    if isinstance(node, And):
        return lambda row: all(p(row) for p in parts)
    return lambda row: any(p(row) for p in parts)


def compile_predicate(expr: str | None, scope: str = "samples") -> Callable[[Mapping], bool]:
    """A Python test with the SQL semantics, over dicts keyed by column attribute.

    Own-scope values are read from `row[attr]` (e.g. `power`, `median_power`), other tables'
    from `row["file.<attr>"]` / `row["item.<attr>"]`; the typed name is tried as a fallback;
    a missing key is empty.
    """
    check_scope(scope)
    node = parse_filter(expr, scope)
    if node is None:
        return lambda row: True
    return _node_fn(node, scope)


def predicate_mask(rows: Sequence[Mapping], expr: str | None, scope: str = "samples") -> Any:
    """A boolean numpy mask of the rows that pass `expr` (in memory, the SQL semantics)."""
    import numpy as np

    predicate = compile_predicate(expr, scope)
    return np.fromiter((bool(predicate(r)) for r in rows), dtype=bool, count=len(rows))


__all__ = [
    "CompiledFilter",
    "apply_filter",
    "compile_filter",
    "compile_predicate",
    "join_tables",
    "predicate_mask",
    "sql_value",
]

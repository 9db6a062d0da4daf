"""The catalog query language: filters and staged sorts compiled to SQL or Python predicates."""

from db.query.columns import ColumnSpec, resolve, scope_columns, valid_names
from db.query.compile import (
    apply_filter,
    compile_filter,
    compile_predicate,
    join_tables,
    predicate_mask,
)
from db.query.errors import ExpressionError
from db.query.parser import parse_filter, parse_sort
from db.query.select import QueryResult, build_query, run_query

__all__ = [
    "ColumnSpec",
    "ExpressionError",
    "QueryResult",
    "apply_filter",
    "build_query",
    "compile_filter",
    "compile_predicate",
    "join_tables",
    "parse_filter",
    "parse_sort",
    "predicate_mask",
    "resolve",
    "run_query",
    "scope_columns",
    "valid_names",
]

"""The parsed form of filter and sort expressions."""

from __future__ import annotations

from dataclasses import dataclass

from db.query.columns import ColumnSpec


@dataclass(frozen=True)
class Condition:
    """`column op value`; `value` is None for `?=` and `!?=`, a float for numeric columns."""

    column: ColumnSpec
    op: str
    value: str | float | bool | None
    pos: int


@dataclass(frozen=True)
class And:
    """All of `parts` hold."""

    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of `parts` holds."""

    parts: tuple[Node, ...]


Node = Condition | And | Or


@dataclass(frozen=True)
class SortKey:
    """One sort stage: a column (or a seeded random order), its direction and optional trim."""

    column: ColumnSpec | None
    descending: bool
    trim: float | None = None
    seed: int | None = None

    @property
    def is_random(self) -> bool:
        """Whether this stage is `random=SEED`."""
        return self.column is None

"""Order rows of sample features by one column, missing values last in either direction."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SORT_KEYS = ("tsne", "hz", "power", "clarity", "dur")


def _missing(v: Any) -> bool:
    """None or NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def sort_order(rows: Sequence[Mapping[str, Any]], key: str, descending: bool = False) -> list[int]:
    """Return row indices sorted by row[key] (stable; ties keep input order; missing go last)."""
    if rows and not any(key in r for r in rows):
        raise KeyError(f"no row has the sort column {key!r}")
    present = [i for i, r in enumerate(rows) if not _missing(r.get(key))]
    absent = [i for i, r in enumerate(rows) if _missing(r.get(key))]
    present.sort(key=lambda i: rows[i][key], reverse=descending)  # sort is stable either way
    return present + absent

"""A subset's members in the order a render asks for: `key=asc|desc&...` over the values every
member carries (core.render_kinds.MEMBER_VALUES); missing values sort last."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

from core.render_kinds import MEMBER_VALUES
from worker.layout.ranking import check_sort, rank


def _member_sort(value: str) -> str:
    check_sort(value, MEMBER_VALUES)
    return value


MemberSort = Annotated[str, AfterValidator(_member_sort)]
"""A kind's parameter that orders the subset's members: `key=asc|desc&...` over MEMBER_VALUES,
checked when the job is submitted."""


def order_members(
    values: Sequence[Mapping[str, float | None]], sort: str, limit: int | None = None
) -> list[int]:
    """Indices of the members (each a mapping of its values) in `sort` order, cut to `limit`."""
    if not values:
        return []
    features = {
        key: np.array([np.nan if v.get(key) is None else v[key] for v in values], float)
        for key in MEMBER_VALUES
    }
    order = [int(i) for i in rank(features, sort, len(values), what="render sort")]
    return order[:limit] if limit else order

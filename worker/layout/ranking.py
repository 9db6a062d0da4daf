"""Order members by `key=asc|desc&...` over feature columns (NaN last, ties by position)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.errors import ConfigError


def rank(
    features: Mapping[str, np.ndarray], sort: str, n: int, *, what: str = "sort"
) -> np.ndarray:
    """Indices of the n members in order; keys are applied in turn, like the reference's sorts."""
    keys = []
    for part in filter(None, (p.strip() for p in sort.split("&"))):
        name, _, direction = part.partition("=")
        direction = direction.split("=")[0] or "asc"
        if name not in features or direction not in ("asc", "desc"):
            raise ConfigError(
                f"{what} {part!r}: use key=asc|desc with key in {', '.join(sorted(features))}"
            )
        values = np.asarray(features[name], dtype=np.float64)
        if np.isnan(values).all():
            raise ConfigError(f"{what} {part!r}: no member has a value for {name!r}")
        fill = np.inf if direction == "asc" else -np.inf
        values = np.where(np.isnan(values), fill, values)
        keys.append(-values if direction == "desc" else values)
    if not keys:
        return np.arange(n)
    return np.lexsort([np.arange(n), *reversed(keys)])

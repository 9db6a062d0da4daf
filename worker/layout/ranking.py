"""Order members by `key=asc|desc&...` over feature columns (NaN last, ties by position)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from core.errors import ConfigError


def parse_sort(sort: str, names: Collection[str], *, what: str = "sort") -> list[tuple[str, bool]]:
    """(key, descending) pairs of a sort; a ConfigError naming the valid keys otherwise."""
    keys = []
    for part in filter(None, (p.strip() for p in sort.split("&"))):
        name, _, direction = part.partition("=")
        direction = direction.split("=")[0] or "asc"
        if name not in names or direction not in ("asc", "desc"):
            raise ConfigError(
                f"{what} {part!r}: use key=asc|desc with key in {', '.join(sorted(names))}"
            )
        keys.append((name, direction == "desc"))
    return keys


def check_sort(sort: str, names: Collection[str], *, what: str = "sort") -> None:
    """Raise a ValueError (for a parameter model's validator) when `sort` cannot work."""
    try:
        parse_sort(sort, names, what=what)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def rank(
    features: Mapping[str, np.ndarray], sort: str, n: int, *, what: str = "sort"
) -> np.ndarray:
    """Indices of the n members in order; keys are applied in turn, like the reference's sorts."""
    keys = []
    for name, descending in parse_sort(sort, features, what=what):
        values = np.asarray(features[name], dtype=np.float64)
        if np.isnan(values).all():
            raise ConfigError(f"{what} {name!r}: no member has a value for {name!r}")
        fill = -np.inf if descending else np.inf
        values = np.where(np.isnan(values), fill, values)
        keys.append(-values if descending else values)
    if not keys:
        return np.arange(n)
    return np.lexsort([np.arange(n), *reversed(keys)])

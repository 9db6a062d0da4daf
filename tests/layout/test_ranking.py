"""Ordering members by `key=asc|desc&...`: stable, missing values last either way, in turn."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from worker.layout.ranking import rank

FEATURES = {
    "hz": np.array([440.0, np.nan, 110.0, np.nan, 440.0]),
    "dur": np.array([1.0, 3.0, 2.0, 2.0, 0.5]),
    "tsne": np.full(5, np.nan),
}


def test_single_keys_are_stable_with_missing_values_last() -> None:
    assert rank(FEATURES, "hz=asc", 5).tolist() == [2, 0, 4, 1, 3]
    assert rank(FEATURES, "hz=desc", 5).tolist() == [0, 4, 2, 1, 3]
    assert rank(FEATURES, "dur=desc", 5).tolist() == [1, 2, 3, 0, 4]
    assert rank(FEATURES, "", 5).tolist() == [0, 1, 2, 3, 4]


def test_keys_apply_in_turn_and_trims_are_ignored() -> None:
    assert rank(FEATURES, "hz=desc&dur=asc", 5).tolist() == [4, 0, 2, 3, 1]
    assert rank(FEATURES, "dur=desc=0.5&hz=asc", 5).tolist() == [1, 2, 3, 0, 4]


@pytest.mark.parametrize("sort", ["pitch=asc", "hz=up", "tsne=asc"])
def test_bad_or_empty_keys_are_clear_errors(sort: str) -> None:
    with pytest.raises(ConfigError):
        rank(FEATURES, sort, 5)

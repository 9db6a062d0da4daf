"""Totals, histograms and scatter points computed in SQL, against numpy on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from core.errors import QueryError
from db.engine import session_scope
from db.models import Target
from db.stats import histogram, scatter_points, totals
from scheduler.plots import save_histogram, save_scatter
from tests.catalog_factory import Catalog, build_catalog


@pytest.fixture
def cat(catalog: Engine) -> Catalog:
    build_catalog(catalog, seed=1, items=2, name="other")
    cat = build_catalog(catalog, seed=2, items=10)
    with session_scope(catalog) as s:
        s.add_all([Target(job_id=cat.job_id, stage="analyze", key=str(i),
                          status="done" if i < 3 else "pending") for i in range(5)])  # fmt: skip
    return cat


def test_totals(catalog: Engine, cat: Catalog) -> None:
    with session_scope(catalog) as s:
        t = totals(s, cat.job_id)
        everything = totals(s)
    assert t.files == len(cat.files) and t.items == len(cat.items)
    assert t.files_with_audio == sum(1 for f in cat.files if f["has_audio"])
    assert t.files_with_samples == sum(1 for f in cat.files if f["samples"] > 0)
    assert t.samples == len(cat.samples)
    assert t.duration_hours == pytest.approx(sum(f["duration"] for f in cat.files) / 3600)
    assert t.stages == {"analyze": {"done": 3, "pending": 2}}
    assert everything.files > t.files and everything.samples > t.samples


def test_histograms_match_numpy(catalog: Engine, cat: Catalog, tmp_path: Path) -> None:
    with session_scope(catalog) as s:
        h = histogram(s, "samples", "power", job_id=cat.job_id, where="octave>1")
        hf = histogram(s, "files", "medianPower", job_id=cat.job_id)
        none = histogram(s, "files", "duration", job_id=cat.job_id, where="samples>100000")
    values = np.array([r["power"] for r in cat.samples if r["octave"] > 1])
    lo, hi = values.min(), values.max()
    index = np.minimum(np.floor((values - lo) * (50 / (hi - lo))).astype(int), 49)
    np.testing.assert_array_equal(h.counts, np.bincount(index, minlength=50))
    counts, edges = np.histogram(values, bins=50)
    np.testing.assert_allclose(h.edges, edges)
    assert h.counts.sum() == len(values) == h.values
    # power has two decimals, so values sit on bin edges; numpy may bin those one lower
    assert np.abs(h.counts - counts).sum() <= 0.2 * len(values)
    medians = [f["median_power"] for f in cat.files]
    assert hf.values == sum(m is not None for m in medians)
    assert hf.empty == sum(m is None for m in medians)
    assert none.values == 0 and none.counts.sum() == 0
    assert save_histogram(h, tmp_path / "h.png").stat().st_size > 1000
    with session_scope(catalog) as s, pytest.raises(QueryError, match="not a numeric"):
        histogram(s, "samples", "note")


def test_scatter_points(catalog: Engine, cat: Catalog, tmp_path: Path) -> None:
    with session_scope(catalog) as s:
        xs, ys = scatter_points(s, "samples", "hz", "power", job_id=cat.job_id, where="hz>0")
        few, _ = scatter_points(s, "samples", "hz", "power", job_id=cat.job_id, max_points=50)
    expected = sorted((r["hz"], r["power"]) for r in cat.samples if r["hz"] > 0)
    assert sorted(zip(xs.tolist(), ys.tolist(), strict=True)) == expected
    assert 25 <= len(few) <= 50
    assert save_scatter(xs, ys, "hz", "power", tmp_path / "s.png").stat().st_size > 1000

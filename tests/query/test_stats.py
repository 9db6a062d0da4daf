"""Totals, histograms and scatter points computed in SQL, against numpy on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from core.errors import QueryError
from db.engine import session_scope
from db.models import Target
from db.stats import histogram, scatter_points, totals, unpitched_rows
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


def test_pitch_plots_leave_unpitched_out(catalog: Engine, cat: Catalog, tmp_path: Path) -> None:
    """hz 0 means unpitched: not the tallest bar of the hz histogram, not the scatter's
    correlation; they are counted instead (and named in the plot's title)."""
    unpitched = sum(1 for r in cat.samples if r["hz"] == 0)
    pitched = np.array([r["hz"] for r in cat.samples if r["hz"] > 0])
    assert unpitched and len(pitched)
    with session_scope(catalog) as s:
        h = histogram(s, "samples", "hz", job_id=cat.job_id)
        xs, ys = scatter_points(s, "samples", "hz", "power", job_id=cat.job_id)
        left_out = unpitched_rows(s, "samples", ["hz", "power"], job_id=cat.job_id)
        assert unpitched_rows(s, "samples", ["power", "dur"], job_id=cat.job_id) == 0
        power = histogram(s, "samples", "power", job_id=cat.job_id)
    assert (h.values, h.unpitched) == (len(pitched), unpitched)
    assert h.edges[0] == pytest.approx(pitched.min()) and h.counts.sum() == len(pitched)
    assert len(xs) == len(pitched) and left_out == unpitched and (xs > 0).all()
    assert power.unpitched == 0 and power.values == len(cat.samples)
    assert save_histogram(h, tmp_path / "hz.png").stat().st_size > 1000
    assert save_scatter(xs, ys, "hz", "power", tmp_path / "hz-power.png",
                        unpitched=left_out).stat().st_size > 1000


def test_pitch_axes_are_note_names() -> None:
    from matplotlib.figure import Figure

    from scheduler.plots import _pitch_axis
    from worker.analysis.notes import note_ticks

    hz, names = note_ticks(60.0, 1100.0)
    assert names == ["C2", "C3", "C4", "C5", "C6"] and hz[2] == pytest.approx(261.63, abs=0.01)
    ax = Figure().add_subplot()
    _pitch_axis(ax, "hz", "x", 60.0, 1100.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_xlabel() == "hz (note)"
    _pitch_axis(ax, "midi", "y", 36.0, 85.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C2", "C3", "C4", "C5", "C6"]

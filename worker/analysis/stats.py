"""Per-file summary statistics of a SampleTable, for the catalog's file rows."""

from __future__ import annotations

import numpy as np

from worker.analysis.samples import SampleTable


def _median(x: np.ndarray) -> float | None:
    """Median as a Python float, None for no values."""
    return float(np.median(x)) if x.size else None


def file_stats(table: SampleTable) -> dict:
    """Return n_samples and medians of power, hz (pitched samples only), clarity and dur.

    Medians are None when there are no (pitched, for hz) samples.
    """
    return {
        "n_samples": len(table),
        "median_power": _median(table.power),
        "median_hz": _median(table.hz[table.hz > 0]),
        "median_clarity": _median(table.clarity),
        "median_dur": _median(table.dur),
    }

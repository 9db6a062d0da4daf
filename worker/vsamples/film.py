"""vsamples for one film: its cuts from one pass, then every sample's picture span."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worker.vsamples.cuts import detect_cuts
from worker.vsamples.scan import scan_frames
from worker.vsamples.spans import SpanParams, picture_spans, window_ms


def vsample_film(path: str | Path, starts_ms: np.ndarray, durs_ms: np.ndarray, file_key: str,
                 p: SpanParams | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(vstart, vdur, cuts found) for the samples of one film, scanning only where they are.

    The scan covers each sample's window plus its maximum jitter (merged, in one pass); a
    film with no picture gives spans without cuts.
    """
    p = p or SpanParams()
    starts = np.asarray(starts_ms, dtype=np.float64)
    ends = starts + window_ms(durs_ms, p.target_ms) + p.var_ms
    ranges = [(max(0.0, a - 100.0), b + 100.0) for a, b in zip(starts, ends, strict=True)]
    features = scan_frames(path, ranges_ms=ranges)
    cuts = detect_cuts(features)
    vstart, vdur = picture_spans(starts, durs_ms, cuts, features.duration_ms, file_key, p)
    return vstart, vdur, int(cuts.size)

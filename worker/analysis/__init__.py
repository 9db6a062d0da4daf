"""Audio analysis: decoding, probing, onset segmentation, sample features (plain functions).

The names below are imported from their modules on first use (PEP 562), so importing a light
module of this package (params, used by every stage's declarations) does not import PyAV,
scipy.signal, librosa and numba into every worker process at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "AnalysisParams": "worker.analysis.params",
    "ProbeResult": "worker.analysis.probe",
    "SampleTable": "worker.analysis.samples",
    "SegmentReader": "worker.analysis.decode",
    "analyze_file": "worker.analysis.analyze",
    "analyze_signal": "worker.analysis.analyze",
    "file_stats": "worker.analysis.stats",
    "iter_audio_blocks": "worker.analysis.decode",
    "probe_media": "worker.analysis.probe",
    "read_segment": "worker.analysis.decode",
}

__all__ = [
    "AnalysisParams",
    "ProbeResult",
    "SampleTable",
    "SegmentReader",
    "analyze_file",
    "analyze_signal",
    "file_stats",
    "iter_audio_blocks",
    "probe_media",
    "read_segment",
]
assert sorted(__all__) == sorted(_LAZY)

if TYPE_CHECKING:
    from worker.analysis.analyze import analyze_file, analyze_signal
    from worker.analysis.decode import SegmentReader, iter_audio_blocks, read_segment
    from worker.analysis.params import AnalysisParams
    from worker.analysis.probe import ProbeResult, probe_media
    from worker.analysis.samples import SampleTable
    from worker.analysis.stats import file_stats


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

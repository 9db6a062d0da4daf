"""Audio analysis: decoding, probing, onset segmentation, sample features (plain functions)."""

from worker.analysis.analyze import analyze_file, analyze_signal
from worker.analysis.decode import SegmentReader, iter_audio_blocks, read_segment
from worker.analysis.params import AnalysisParams
from worker.analysis.probe import ProbeResult, probe_media
from worker.analysis.samples import SampleTable
from worker.analysis.stats import file_stats

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

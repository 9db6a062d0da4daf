"""Cut a signal or a media file into samples and describe them, streaming in bounded memory."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from core.errors import SamplemillError
from worker.analysis import params as P
from worker.analysis.decode import iter_audio_blocks
from worker.analysis.features import sample_features
from worker.analysis.frames import FrameStore, FrameStream
from worker.analysis.novelty import ONSET_HOP, SUB
from worker.analysis.onsets import OnsetTracker
from worker.analysis.params import AnalysisParams
from worker.analysis.samples import SampleTable
from worker.analysis.silence import SilenceSegmenter

DECODE_BLOCK_SECONDS = 10.0  # small blocks keep the working set in cache (~12% faster than 30 s)
# glibc malloc: arrays up to this size come from the heap, and freed heap memory up to this
# much is kept for reuse rather than returned to the OS (see _reuse_freed_memory).
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_heap_tuned = False


def _reuse_freed_memory() -> None:
    """Keep freed memory in this process's heap for the next block's arrays (glibc, once).

    Each 10 s block allocates tens of MB of short-lived arrays (spectra, frames). With glibc's
    defaults the freed heap top is returned to the OS after every block and faulted back in,
    zeroed, by the next: 0.2-0.25 s of system time per 100 s of audio, a fifth of the
    analysis' CPU, and page faults that slow two processes on the machine more than one.
    Results do not change; the process keeps up to _TRIM_THRESHOLD of freed memory. Skipped
    where mallopt is missing (not glibc) or MALLOC_*_ variables already set the policy.
    """
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                     "MALLOC_TOP_PAD_")):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


class Analyzer:
    """Incremental analysis: push() audio blocks in order, then finish() for the table.

    Frames are computed once; onsets/segments are decided as soon as their neighbourhood is
    known and old frames are dropped, so memory is bounded by the block size, not the file.
    Callers driving it directly should limit BLAS to one thread (see analyze_file).
    """

    def __init__(self, params: AnalysisParams) -> None:
        self.p = params
        sr = params.sr
        self.onset_mode = params.method == "onset"
        self.frames = FrameStream(sr, with_onsets=self.onset_mode)
        self.store = FrameStore()
        self.max_len = round(params.max_ms * sr / 1000.0)
        self.min_len = params.min_ms * sr / 1000.0
        self.n_samples = 0
        self.tables: list[SampleTable] = []
        self.count = 0
        self.pending_onsets: list[int] = []
        self.pending_segs: list[tuple[int, int]] = []
        if self.onset_mode:
            self.tracker = OnsetTracker(sr, params.delta)
        else:
            self.segmenter = SilenceSegmenter(
                round(params.silence_frame_ms * sr / 1000.0), params.silence_threshold_db,
                round(params.silence_min_gap_ms * sr / 1000.0), self.max_len)

    @property
    def full(self) -> bool:
        """True once max_samples samples are collected (the caller may stop decoding)."""
        return 0 <= self.p.max_samples <= self.count

    def push(self, y: np.ndarray) -> None:
        """Analyse the next block of mono float32 audio at params.sr."""
        if self.full or y.size == 0:
            return
        self.n_samples += y.size
        self.store.append(self.frames.push(y))
        if not self.onset_mode:
            self.pending_segs += self.segmenter.push(y)
        self._advance(final=False)

    def finish(self) -> SampleTable:
        """Flush the end of the signal and return all samples in time order."""
        if not self.full and self.n_samples:
            self.store.append(self.frames.finish())
            if not self.onset_mode:
                self.pending_segs += self.segmenter.finish(self.n_samples)
            self._advance(final=True)
        table = SampleTable.concat(self.tables)
        return table.head(self.p.max_samples) if self.p.max_samples >= 0 else table

    def _ready_onsets(self, final: bool) -> list[tuple[int, int]]:
        """Turn decided onsets into (start, end) sample ranges once their end is known."""
        frames = self.store.all()
        new = self.tracker.update(frames.flux.reshape(-1), frames.conc.reshape(-1),
                                  frames.level.reshape(-1), frames.start * SUB, final)
        self.pending_onsets += new  # sample positions
        # Any onset decided later lies at or after this sample.
        settled = self.tracker.settled
        ready, i, pend = [], 0, self.pending_onsets
        while i < len(pend):
            s = pend[i]
            if i + 1 < len(pend):
                e = min(pend[i + 1], s + self.max_len)
            elif final or settled >= s + self.max_len:
                e = s + self.max_len
            else:
                break
            ready.append((s, min(e, self.n_samples)))
            i += 1
        del pend[:i]
        return ready

    def _ready_segments(self, final: bool) -> list[tuple[int, int]]:
        """Return silence segments whose frames are all computed."""
        limit = self.store.end * P.HOP
        i = 0
        while i < len(self.pending_segs) and (final or self.pending_segs[i][1] + P.HOP <= limit):
            i += 1
        ready = self.pending_segs[:i]
        del self.pending_segs[:i]
        return ready

    def _advance(self, final: bool) -> None:
        """Describe every sample that can be decided now, then drop frames no longer needed."""
        ready = self._ready_onsets(final) if self.onset_mode else self._ready_segments(final)
        ready = [(s, e) for s, e in ready if e - s >= self.min_len and e > s]
        if self.p.max_samples >= 0:
            ready = ready[: max(0, self.p.max_samples - self.count)]
        if ready:
            arr = np.asarray(ready, np.int64)
            table = sample_features(self.store.all(), arr[:, 0], arr[:, 1], self.p.sr)
            self.tables.append(table)
            self.count += len(table)
        self.store.trim_before(self._keep_from())

    def _keep_from(self) -> int:
        """Return the first frame any future sample or decision can still need."""
        if self.onset_mode:
            first = (self.tracker.settled // ONSET_HOP - self.tracker.lookback) // SUB
            if self.pending_onsets:
                first = min(first, self.pending_onsets[0] // P.HOP)
            return max(0, first - 1)
        cands = [s for s, _ in self.pending_segs]
        if self.segmenter.open_start is not None:
            cands.append(self.segmenter.open_start)
        cands.append(self.segmenter.frame_index * self.segmenter.frame_len)
        return max(0, min(cands) // P.HOP - 1)


def _as_mono(y: np.ndarray) -> np.ndarray:
    """Return y as 1-D float32, averaging channels of a (channels, n) array."""
    a = np.asarray(y)
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1:
        raise SamplemillError(f"signal must be (n,) or (channels, n), got shape {a.shape}")
    return a.astype(np.float32, copy=False)


def analyze_signal(y: np.ndarray, sr: int, params: AnalysisParams) -> SampleTable:
    """Analyse an in-memory signal (resampled to params.sr if needed); empty in, empty out.

    Raises SamplemillError if the signal holds NaN or infinite values.
    """
    a = _as_mono(y)
    if a.size == 0:
        return SampleTable.empty()
    if not np.isfinite(a).all():
        raise SamplemillError("signal contains NaN or infinite values")
    if sr != params.sr:
        from scipy.signal import resample_poly  # scipy.signal (+ scipy.stats) costs ~1 s to import

        g = np.gcd(int(sr), int(params.sr))
        a = resample_poly(a, params.sr // g, sr // g).astype(np.float32)
    _reuse_freed_memory()
    with threadpool_limits(1, user_api="blas"):  # one core per analysis; scale with processes
        analyzer = Analyzer(params)
        analyzer.push(a)
        return analyzer.finish()


def analyze_file(path: str | Path, params: AnalysisParams) -> SampleTable:
    """Analyse a media file's first audio stream, decoding it block by block (bounded memory).

    Raises MediaError for corrupt/unsupported files or files without audio.
    """
    _reuse_freed_memory()
    with threadpool_limits(1, user_api="blas"):  # one core per analysis; scale with processes
        analyzer = Analyzer(params)
        for block in iter_audio_blocks(path, sr=params.sr, block_seconds=DECODE_BLOCK_SECONDS):
            analyzer.push(block)
            if analyzer.full:
                break
        return analyzer.finish()

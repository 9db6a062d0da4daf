"""Score detected onsets and pitches against note truth: mir_eval onset matching at +-50 ms,
pitch within +-50 cents of any note sounding at a matched onset. Counts add up over files."""

from __future__ import annotations

from dataclasses import dataclass, field

import mir_eval
import numpy as np

WINDOW_S = 0.05
CENTS = 50.0


@dataclass
class Score:
    """Counts over one or more files; the rates are derived from them."""

    n_ref: int = 0
    n_est: int = 0
    hits: int = 0
    pitch_ok: int = 0
    pitch_n: int = 0
    errors_ms: list[float] = field(default_factory=list)  # estimate - truth, matched onsets
    # Per matched note of the last file scored: (truth index, error ms, pitch within 50 cents).
    matched: list[tuple[int, float, bool]] = field(default_factory=list)

    def __iadd__(self, other: Score) -> Score:
        self.n_ref += other.n_ref
        self.n_est += other.n_est
        self.hits += other.hits
        self.pitch_ok += other.pitch_ok
        self.pitch_n += other.pitch_n
        self.errors_ms += other.errors_ms
        return self

    @property
    def precision(self) -> float:
        """Share of detected onsets that match a note."""
        return self.hits / self.n_est if self.n_est else 0.0

    @property
    def recall(self) -> float:
        """Share of notes whose onset was detected."""
        return self.hits / self.n_ref if self.n_ref else 0.0

    @property
    def f(self) -> float:
        """Onset F-measure."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_ms(self) -> float:
        """Median signed timing error of matched onsets (ms; positive is late)."""
        return float(np.median(self.errors_ms)) if self.errors_ms else float("nan")

    @property
    def p90_ms(self) -> float:
        """90th percentile of the absolute timing error (ms)."""
        return float(np.percentile(np.abs(self.errors_ms), 90)) if self.errors_ms else float("nan")

    @property
    def pitch(self) -> float:
        """Share of matched notes whose estimated pitch is within 50 cents."""
        return self.pitch_ok / self.pitch_n if self.pitch_n else float("nan")


def score(ref_onsets: np.ndarray, ref_pitches: list[tuple[int, ...]], est_onsets: np.ndarray,
          est_hz: np.ndarray | None) -> Score:
    """Score one file: onsets in seconds, pitches as MIDI numbers, est_hz 0 when unpitched."""
    ref = np.asarray(ref_onsets, float)
    est = np.sort(np.asarray(est_onsets, float))
    order = np.argsort(np.asarray(est_onsets, float), kind="stable")
    pairs = mir_eval.util.match_events(ref, est, WINDOW_S) if ref.size and est.size else []
    s = Score(n_ref=int(ref.size), n_est=int(est.size), hits=len(pairs))
    s.errors_ms = [1000.0 * (est[j] - ref[i]) for i, j in pairs]
    hz = np.asarray(est_hz, float)[order] if est_hz is not None else None
    for i, j in pairs:
        ok = False
        if hz is not None:
            s.pitch_n += 1
            if hz[j] > 0:
                f_ref = 440.0 * 2 ** ((np.asarray(ref_pitches[i], float) - 69) / 12)
                ok = bool(np.min(np.abs(1200 * np.log2(hz[j] / f_ref))) <= CENTS)
            s.pitch_ok += ok
        s.matched.append((int(i), 1000.0 * (est[j] - ref[i]), ok))
    return s

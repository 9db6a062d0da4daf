"""Analysis parameters: one frozen value object, passed in by the caller (no settings here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import SamplemillError

# Fixed analysis grid of the reference method (SuperFlux onset strength on a log-mel).
N_FFT = 2048
HOP = 512
ONSET_N_MELS = 138
ONSET_FMIN = 27.5
ONSET_FMAX = 16000.0
ONSET_LAG = 2
ONSET_MAX_SIZE = 3
VECTOR_N_MELS = 128
N_MFCC = 13
VECTOR_MAX_MS = 1000.0
PITCH_FMIN = 45.0
PITCH_FRAME = 1024  # YIN frame (46 ms): periods up to 511 samples, i.e. >= 43 Hz
PITCH_FMAX = 2000.0


@dataclass(frozen=True)
class AnalysisParams:
    """How to cut a signal into samples and describe them; defaults are the reference's.

    onset: sample i runs from onset i to onset i+1, capped at max_ms. silence: a sample is
    the first max_ms of each stretch of sound between silent gaps (see silence.py).
    """

    sr: int = 22050  # analysis sample rate (audio is resampled to it while decoding)
    method: Literal["onset", "silence"] = "onset"  # how samples are cut
    min_ms: float = 80.0  # samples shorter than this are dropped (both methods)
    max_ms: float = 1000.0  # samples are cut off after this (both methods)
    delta: float = 0.07  # onset threshold above the local mean of the normalised envelope
    silence_threshold_db: float = -40.0  # a frame is silent when its peak |x| is below this
    silence_frame_ms: float = 20.0  # frame size of the silence detector
    silence_min_gap_ms: float = 250.0  # silent stretches at least this long separate samples
    max_samples: int = -1  # keep only the first N samples of a file, in time order (-1: all)
    # The onset envelope is normalised by its max over this window (centred) instead of over
    # the whole file, so analysis streams and one loud bang cannot mute a whole film.
    norm_window_s: float = 20.0

    def __post_init__(self) -> None:
        """Reject values that cannot work, naming the field."""
        if self.method not in ("onset", "silence"):
            raise SamplemillError(f"method must be 'onset' or 'silence', not {self.method!r}")
        if self.sr < 8000:
            raise SamplemillError(f"sr must be >= 8000, not {self.sr}")
        if not 0 <= self.min_ms <= self.max_ms or self.max_ms <= 0:
            raise SamplemillError(f"need 0 <= min_ms <= max_ms, max_ms > 0 ({self})")
        if self.delta < 0:
            raise SamplemillError(f"delta must be >= 0, not {self.delta}")
        if self.silence_frame_ms <= 0 or self.silence_min_gap_ms < 0:
            raise SamplemillError("silence_frame_ms must be > 0 and silence_min_gap_ms >= 0")
        if self.norm_window_s <= 0:
            raise SamplemillError(f"norm_window_s must be > 0, not {self.norm_window_s}")

"""The probe and analyze stages' parameters: one frozen model each, validated at submit and
passed to the analysis code as they are (no settings here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.stages import StageParams

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
PITCH_FMIN = 27.0  # A0 is 27.5 Hz: a bass's and a piano's lowest notes are pitched
PITCH_FRAME = N_FFT  # YIN frame: the feature frame (93 ms, its FFT shared), periods <= 1022
PITCH_FMAX = 2000.0


class ProbeParams(StageParams):
    """The job's [probe] table."""

    fast: bool = Field(False, description="Read container metadata only.")


class AnalyzeParams(StageParams):
    """How to cut a signal into samples and describe them (the job's [analyze] table); the
    defaults are the reference's.

    onset: sample i runs from onset i to onset i+1, capped at max_ms. silence: a sample is
    the first max_ms of each stretch of sound between silent gaps (see silence.py).
    """

    method: Literal["onset", "silence"] = Field("onset", description="How samples are cut.")
    sr: int = Field(22050, ge=8000, le=96000,
                    description="Analysis sample rate (audio is resampled to it while decoding).")
    min_ms: float = Field(80.0, ge=0, description="Shorter samples are dropped (both methods).")
    max_ms: float = Field(1000.0, gt=0, description="Samples are cut off after this.")
    delta: float = Field(0.07, ge=0, description="Onset threshold: 0.07 is the tuned default, "
                         "each +0.05 asks e times the evidence (fewer onsets), -0.05 less.")
    silence_threshold_db: float = Field(-40.0, le=0,
                                        description="A frame is silent when its peak is below.")
    silence_frame_ms: float = Field(20.0, gt=0, description="Frame of the silence detector.")
    silence_min_gap_ms: float = Field(250.0, ge=0,
                                      description="Silent stretches this long separate samples.")
    max_samples: int = Field(-1, ge=-1, alias="samples",
                             description="Most samples kept per file, in time order (-1: all).")
    filter: str = Field("", description="Sample filter applied before storing (query language).")
    norm_window_s: float = Field(20.0, gt=0, description="Unused: the onset novelty needs no "
                                 "normalisation (log-magnitude flux); kept so older job files "
                                 "still validate.")

    @model_validator(mode="after")
    def _ordered(self) -> AnalyzeParams:
        if self.max_ms <= self.min_ms:
            raise ValueError(f"max_ms must be greater than min_ms ({self.min_ms:g})")
        return self


AnalysisParams = AnalyzeParams
"""The name the analysis code grew up with."""

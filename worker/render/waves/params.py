"""The `waves` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import BRIGHTNESS, CappedClipParams, check_pair


class WavesParams(CappedClipParams):
    """Waves radiate from the centre; clips push outward, grow and brighten; the view zooms in."""

    kind: Literal["waves"] = "waves"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout.")
    grid0: int = Field(128, ge=1, le=1024, description="Grid side in view at the start.")
    grid1: int = Field(32, ge=1, le=1024, description="Grid side in view at the end of the "
                       "zoom (steps × beat_ms after pad_before_ms).")
    steps: int = Field(8, ge=1, le=1000, description="Number of waves (beats).")
    beat_ms: float = Field(12000.0, gt=0, description="A wave starts every beat_ms.")
    wave_ms: float = Field(16000.0, gt=0, description="A wave takes this long to reach its "
                           "last visible clip.")
    translate: float = Field(0.8, ge=0, description="A reached clip pushes out from the centre "
                             "by this × the smaller side of its clip.")
    scale: float = Field(1.5, gt=0, description="A reached clip grows to this scale.")
    brightness: tuple[float, float] = Field(BRIGHTNESS, description="Resting and flash "
                                            "brightness (the flash is less far from the centre).")
    max_audio_clips: int = Field(8192, ge=0, description="At most this many clips ever sound "
                                 "(0: all): the keep_audio_clips nearest the centre, then a "
                                 "centre-weighted draw without replacement.")
    keep_audio_clips: int = Field(256, ge=0, description="Clips nearest the centre that always "
                                  "sound.")
    volume: tuple[float, float] = Field((0.3, 0.9), description="Volume of the quietest and "
                                        "the loudest play.")
    seed: int = Field(1, description="Seeds the clip durations, loudness and which clips sound.")

    @model_validator(mode="after")
    def _check(self) -> WavesParams:
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) and grid1 ({self.grid1}) must not exceed "
                              f"grid ({self.grid})")
        check_pair("brightness", self.brightness, "resting", "flash")
        check_pair("volume", self.volume, "low", "high", top=4)
        return self

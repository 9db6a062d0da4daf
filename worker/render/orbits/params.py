"""The `orbits` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.output import VideoRenderParams


class OrbitsParams(VideoRenderParams):
    """Each square ring turns like a conveyor on a beat, then reverses; clips sound as they
    pass the play position."""

    kind: Literal["orbits"] = "orbits"
    grid: int = Field(64, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout (even).")
    grid0: int = Field(32, ge=2, le=1024, description="Grid side in view at the start.")
    grid1: int = Field(64, ge=2, le=1024, description="Grid side in view at the end.")
    beat_ms: float = Field(1024.0, gt=0, description="A ring steps one cell per beat "
                           "(cubicInOut).")
    beat_divisions: int = Field(4, ge=0, le=10, description="Ring starts are offset by "
                                "fractions of a beat from a binary subdivision into "
                                "2^beat_divisions.")
    ring_offset: int = Field(4, ge=1, le=64, description="Beats between the starts of the "
                             "first rings, easing to 1 from the middle ring on.")
    play_position: float = Field(0.375, ge=0, lt=1, description="Where on its ring a clip "
                                 "sounds, as a fraction of the way round clockwise from the "
                                 "top-left (0.375: the middle of the right side).")
    margin: float = Field(0.0667, ge=0, lt=1, description="Gap between clips, × cell width.")
    brightness: tuple[float, float] = Field((0.33, 1.0), description="Resting and flash "
                                            "brightness.")
    min_clip_ms: float = Field(1200.0, ge=0, description="A clip animates at least this long "
                               "(plus a random 0..extra_clip_ms).")
    extra_clip_ms: float = Field(500.0, ge=0)
    volume: tuple[float, float] = Field((0.25, 1.0), description="Volume at the end and the "
                                        "start of a ring's turning.")
    reverb: float = Field(80.0, ge=0, le=100)
    max_db: float | None = Field(-16.0, le=0, description="Cap each clip's RMS (dBFS).")
    pad_before_ms: float = Field(1000.0, ge=0)
    pad_after_ms: float = Field(3000.0, ge=0)
    seed: int = Field(1, description="Seeds the clip durations.")

    @model_validator(mode="after")
    def _check(self) -> OrbitsParams:
        for name in ("grid", "grid0", "grid1"):
            if getattr(self, name) % 2:
                raise ConfigError(f"{name} must be even (square rings round the centre)")
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) and grid1 ({self.grid1}) must not exceed "
                              f"grid ({self.grid})")
        if not 0 <= self.brightness[0] <= self.brightness[1]:
            raise ConfigError("brightness must be (resting, flash) with 0 ≤ resting ≤ flash")
        if not 0 <= self.volume[0] <= self.volume[1] <= 4:
            raise ConfigError("volume must be (low, high) with 0 ≤ low ≤ high ≤ 4")
        return self

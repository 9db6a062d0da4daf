"""The `proliferation` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.output import VideoRenderParams


class ProliferationParams(VideoRenderParams):
    """Rings of clips light up from the centre outward while the view zooms out to the grid."""

    kind: Literal["proliferation"] = "proliferation"
    grid: int = Field(128, ge=2, le=1024, description="Grid side at the end (grid1): the "
                      "central grid×grid cells of the layout.")
    grid0: int = Field(16, ge=1, le=1024, description="Grid side in view at the start: the "
                       "view opens zoomed in grid/grid0 times.")
    beat_ms: float = Field(4096.0, gt=0, description="Ring r lasts 4·beat/r ms.")
    margin: float = Field(0.0667, ge=0, lt=1, description="Gap between clips, × cell width.")
    brightness: tuple[float, float] = Field((0.33, 1.0), description="Settled and flash "
                                            "brightness.")
    flash: float = Field(0.2, gt=0, lt=1, description="Share of a clip's animation spent "
                         "brightening; the rest settles.")
    min_clip_ms: float = Field(1200.0, ge=0, description="A clip animates at least this long "
                               "(plus a random 0..extra_clip_ms).")
    extra_clip_ms: float = Field(500.0, ge=0)
    zoom_start: float = Field(0.55, ge=0, le=1, description="The zoom out starts this far "
                              "from pad_before to the first ring outside the opening view.")
    audio_every_ms: float = Field(16.0, gt=0, description="At most one sounding clip per this "
                                  "many ms of a ring.")
    volume: tuple[float, float] = Field((0.25, 1.0), description="Volume of the outer and the "
                                        "centre ring.")
    reverb: float = Field(80.0, ge=0, le=100)
    max_db: float | None = Field(-16.0, le=0, description="Cap each clip's RMS (dBFS).")
    pad_before_ms: float = Field(1000.0, ge=0)
    pad_after_ms: float = Field(3000.0, ge=0)
    seed: int = Field(1, description="Seeds the clip durations and which clips sound.")

    @model_validator(mode="after")
    def _grids(self) -> ProliferationParams:
        if self.grid0 > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) must not exceed grid ({self.grid})")
        if not 0 <= self.brightness[0] <= self.brightness[1]:
            raise ConfigError("brightness must be (settled, flash) with 0 ≤ settled ≤ flash")
        if not 0 <= self.volume[0] <= self.volume[1] <= 4:
            raise ConfigError("volume must be (outer, centre) with 0 ≤ outer ≤ centre ≤ 4")
        return self


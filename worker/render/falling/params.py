"""The `falling` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import CappedClipParams, check_pair


class FallingParams(CappedClipParams):
    """The camera falls through a wrapping grid, swaying; clips sound, drop and tilt as passed."""

    kind: Literal["falling"] = "falling"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout (the grid wraps around at its edges).")
    view: int = Field(32, ge=1, le=1024, description="Grid side in view (a fixed zoom of "
                      "grid/view; the reference's grid1).")
    duration_s: float = Field(180.0, gt=0, description="How long the fall lasts.")
    grid_cycles: float = Field(2.0, gt=0, description="Grid heights fallen through in all "
                               "(accelerating to half-time, then slowing).")
    max_column_delta: float = Field(16.0, ge=0, description="Sway amplitude in columns (the "
                                    "sway is this × √(x/16) × sin, so about a quarter of it).")
    waves: int = Field(4, ge=0, le=1000, description="Sway periods in each half of the fall.")
    play_radius: float = Field(8.0, gt=0, description="A clip is passed when the view centre "
                               "comes within this many cells of it.")
    delay_play_ms: float = Field(1000.0, ge=0, description="Nothing sounds in the first this "
                                 "many ms of the fall.")
    translate: float = Field(0.5, ge=0, description="A played clip drops by up to 2 × this × "
                             "its height, and slides sideways against the sway.")
    rotate: float = Field(12.0, ge=0, le=180, description="A played clip tilts by up to this "
                          "many degrees at sway speed tilt_speed.")
    loud_speed: float = Field(0.8, gt=0, description="Sideways speed (columns/s) at which a "
                              "passing clip plays at full volume (the reference's 0.5 px per "
                              "frame at 1920 px, 24 fps).")
    tilt_speed: float = Field(1.6, gt=0, description="Sideways speed (columns/s) the tilt and "
                              "slide are scaled by (the reference's 1 px per frame).")
    volume: tuple[float, float] = Field((0.25, 0.8), description="Volume of the quietest and "
                                        "the loudest play.")
    seed: int = Field(1, description="Seeds the clip durations.")

    @model_validator(mode="after")
    def _check(self) -> FallingParams:
        if self.view > self.grid:
            raise ConfigError(f"view ({self.view}) must not exceed grid ({self.grid})")
        if self.view > self.grid - 4:
            raise ConfigError(f"view ({self.view}) must be at most grid − 4 ({self.grid - 4}) "
                              "so the grid wraps out of sight")
        check_pair("brightness", self.brightness, "resting", "flash")
        check_pair("volume", self.volume, "low", "high", top=4)
        return self

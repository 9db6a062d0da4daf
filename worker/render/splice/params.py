"""The `splice` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import GridClipParams, check_pair


class SpliceParams(GridClipParams):
    """Two playhead columns swept like arpeggios with stretched grains while the picture's
    pixel rows shear sideways and fade."""

    kind: Literal["splice"] = "splice"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout.")
    grid0: int = Field(128, ge=1, le=1024, description="Grid side in view at the start.")
    grid1: int = Field(32, ge=1, le=1024, description="Grid side in view at the end (zoomed "
                       "in grid/grid1 times).")
    cycle_ms: tuple[float, float] = Field((64000.0, 96000.0), description="How long the "
                                          "middle rows and the top and bottom rows take to "
                                          "travel the frame width (and fade out).")
    cycles: int = Field(1, ge=1, le=100, description="Frame widths the rows travel.")
    clip_play_ms: float = Field(128.0, gt=0, description="Each clip plays only this much of "
                                "its sound (its first ms).")
    min_play_step_ms: float = Field(64.0, ge=0, description="At least this long between plays "
                                    "in a column (rows are skipped to keep it).")
    column_pass_ms: tuple[float, float] = Field((8000.0, 2000.0), description="How long a "
                                                "sweep of a column takes, first and last.")
    stretch: tuple[float, float] = Field((12.0, 18.0), description="Stretch factor of the "
                                         "grains, first and last.")
    stretch_method: Literal["rubberband", "paulstretch"] = Field(
        "rubberband", description="Time-stretcher: Rubber Band (clean) or the reference's "
        "paulstretch smear.")
    shear: bool = Field(True, description="Slide the picture's pixel rows sideways.")
    volume: tuple[float, float] = Field((0.25, 1.0), description="Volume range.")
    match_db: float | None = Field(-16.0, le=0, description="Set each grain's RMS (dBFS) "
                                   "before it is stretched.")

    @model_validator(mode="after")
    def _ranges(self) -> SpliceParams:
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 and grid1 must not exceed grid ({self.grid})")
        if min(self.cycle_ms) <= 0 or min(self.column_pass_ms) <= 0 or min(self.stretch) <= 0:
            raise ConfigError("cycle_ms, column_pass_ms and stretch must be positive")
        check_pair("brightness", self.brightness, "rest", "flash")
        check_pair("volume", self.volume, "low", "high", top=4)
        return self

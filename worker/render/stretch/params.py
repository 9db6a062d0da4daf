"""The `stretch` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import GridClipParams, check_pair


class StretchParams(GridClipParams):
    """Middle-row clips grow into full-height strips from the centre out, their sound
    replayed back to back, stretched ever longer."""

    kind: Literal["stretch"] = "stretch"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout.")
    grid0: int = Field(32, ge=1, le=1024, description="Grid side in view at the start (zoomed "
                       "in grid/grid0 times).")
    grid1: int = Field(128, ge=1, le=1024, description="Grid side in view once zoomed out, "
                       "half way through.")
    stretch_ms: float = Field(16384.0, gt=0, description="How long a strip takes to grow to "
                              "full height, and how long its sound keeps replaying.")
    stretch_to_ms: float = Field(8192.0, gt=0, description="The last replay of a clip's sound "
                                 "is stretched to about this long.")
    step_ms: float = Field(2048.0, gt=0, description="The next pair of columns starts after "
                           "this long.")
    transition_back_at: float = Field(0.5, ge=0, le=1, description="Strips start shrinking "
                                      "back at this share of the run (never before full).")
    volume: tuple[float, float] = Field((0.25, 0.6), description="Volume range: quietest "
                                        "(last replay, outer pair) to loudest.")
    stretch_method: Literal["rubberband", "paulstretch"] = Field(
        "rubberband", description="Time-stretcher: Rubber Band (clean) or the reference's "
        "paulstretch smear.")
    match_db: float | None = Field(-16.0, le=0, description="Set each clip's RMS (dBFS) "
                                   "before it is stretched.")

    @model_validator(mode="after")
    def _grids(self) -> StretchParams:
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 and grid1 must not exceed grid ({self.grid})")
        check_pair("brightness", self.brightness, "rest", "flash")
        check_pair("volume", self.volume, "low", "high", top=4)
        return self

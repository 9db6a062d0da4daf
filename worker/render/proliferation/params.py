"""The `proliferation` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import BRIGHTNESS, CappedClipParams, check_pair


class ProliferationParams(CappedClipParams):
    """Rings of clips light up from the centre outward while the view zooms out to the grid."""

    kind: Literal["proliferation"] = "proliferation"
    grid: int = Field(128, ge=2, le=1024, description="Grid side at the end (grid1): the "
                      "central grid×grid cells of the layout.")
    grid0: int = Field(16, ge=1, le=1024, description="Grid side in view at the start: the "
                       "view opens zoomed in grid/grid0 times.")
    beat_ms: float = Field(4096.0, gt=0, description="Ring r lasts 4·beat/r ms.")
    brightness: tuple[float, float] = Field(BRIGHTNESS, description="Settled and flash "
                                            "brightness.")
    flash: float = Field(0.2, gt=0, lt=1, description="Share of a clip's animation spent "
                         "brightening; the rest settles.")
    zoom_start: float = Field(0.55, ge=0, le=1, description="The zoom out starts this far "
                              "from pad_before to the first ring outside the opening view.")
    audio_every_ms: float = Field(16.0, gt=0, description="At most one sounding clip per this "
                                  "many ms of a ring.")
    volume: tuple[float, float] = Field((0.25, 1.0), description="Volume of the outer and the "
                                        "centre ring.")
    seed: int = Field(1, description="Seeds the clip durations and which clips sound.")

    @model_validator(mode="after")
    def _grids(self) -> ProliferationParams:
        if self.grid0 > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) must not exceed grid ({self.grid})")
        check_pair("brightness", self.brightness, "settled", "flash")
        check_pair("volume", self.volume, "outer", "centre", top=4)
        return self


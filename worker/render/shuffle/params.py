"""The `shuffle` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import TimedClipParams, check_pair


class ShuffleParams(TimedClipParams):
    """An 8-step sequencer in the centre; rows and columns slide like a sliding puzzle between
    rounds, then slide back."""

    kind: Literal["shuffle"] = "shuffle"
    grid: int = Field(64, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout (the grid wraps around at its edges).")
    grid0: int = Field(64, ge=1, le=1024, description="Grid side in view at the start.")
    grid1: int = Field(32, ge=1, le=1024, description="Grid side in view once zoomed (over "
                       "the first half of the shuffles, cubicInOut).")
    beat_ms: float = Field(2048.0, gt=0, description="One bar of the sequencer.")
    beat_divisions: int = Field(3, ge=0, le=6, description="The sequencer has "
                                "2^beat_divisions steps per beat, one cell each.")
    beats_per_shuffle: int = Field(8, ge=1, le=1000, description="Beats played between "
                                   "shuffles.")
    count: int = Field(5, ge=1, le=100, description="Rounds played; the grid shuffles "
                        "count − 1 times, then shuffles back.")
    transition_ms: float = Field(4096.0, gt=0, description="How long a shuffle takes.")
    max_offset: int = Field(8, ge=1, le=1024, description="Cells the central rows or columns "
                            "slide per shuffle (1 at the edges).")
    stretch: float = Field(1.25, gt=0, description="During a shuffle the last round's cells "
                           "play once, time-stretched to this × transition_ms.")
    stretch_method: Literal["rubberband", "paulstretch"] = Field(
        "rubberband", description="Time-stretcher of the slides' plays: Rubber Band (clean, "
        "pitch kept) or paulstretch (the reference's smear).")
    volume: tuple[float, float] = Field((0.5, 0.75), description="Volume of the off-beat "
                                        "and the on-beat steps; stretched plays use the first.")
    match_db: float | None = Field(-16.0, le=0, description="Set each play's RMS (dBFS).")
    flash: float = Field(0.2, gt=0, lt=1, description="Share of a flash spent brightening.")
    seed: int = Field(1, description="Seeds the clip durations.")

    @model_validator(mode="after")
    def _check(self) -> ShuffleParams:
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) and grid1 ({self.grid1}) must not exceed "
                              f"grid ({self.grid})")
        if 2**self.beat_divisions > self.grid or self.grid < 2:
            raise ConfigError(f"the sequencer's {2**self.beat_divisions} steps need a grid at "
                              f"least that wide ({self.grid})")
        check_pair("brightness", self.brightness, "resting", "flash")
        if not 0 <= self.volume[0] <= 4 or not 0 <= self.volume[1] <= 4:
            raise ConfigError("volume must be two values in 0..4")
        return self

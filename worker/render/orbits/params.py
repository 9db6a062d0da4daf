"""The `orbits` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import CappedClipParams, check_pair


class OrbitsParams(CappedClipParams):
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
    volume: tuple[float, float] = Field((0.25, 1.0), description="Volume at the end and the "
                                        "start of a ring's turning.")
    seed: int = Field(1, description="Seeds the clip durations.")

    @model_validator(mode="after")
    def _check(self) -> OrbitsParams:
        for name in ("grid", "grid0", "grid1"):
            if getattr(self, name) % 2:
                raise ConfigError(f"{name} must be even (square rings round the centre)")
        if max(self.grid0, self.grid1) > self.grid:
            raise ConfigError(f"grid0 ({self.grid0}) and grid1 ({self.grid1}) must not exceed "
                              f"grid ({self.grid})")
        check_pair("brightness", self.brightness, "resting", "flash")
        check_pair("volume", self.volume, "low", "high", top=4)
        return self

"""The `flow` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import BRIGHTNESS, GridClipParams, check_pair


class FlowParams(GridClipParams):
    """Every clip circles its cell in a diagonal wave; a bright ring of clips plays as a
    timbral glide of long stretched sounds."""

    kind: Literal["flow"] = "flow"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout (no zoom).")
    radius: float = Field(4.0, ge=0, description="Largest circle radius, × clip height.")
    freq: tuple[float, float] = Field((2.0, 2.0), description="How many times the diagonal "
                                      "wave wraps the grid, at the start/end and at the middle.")
    rotation_ms: float = Field(8000.0, gt=0, description="One turn of the circles.")
    rotations: int = Field(8, ge=1, le=1000, description="Turns in the whole swirl.")
    clips_to_play: int = Field(512, ge=1, description="How many clips sound: the brightest "
                               "ones (the ring), ordered along the sound map.")
    play_ms: float = Field(8000.0, gt=0, description="Each sound is stretched to this long.")
    audio_offset_ms: float = Field(-4000.0, le=0, description="Each sound starts this much "
                                   "before its moment in the swirl (centring it); the swirl "
                                   "starts late enough that no play is before pad_before.")
    volume: tuple[float, float] = Field((0.4, 0.6), description="Volume across each turn "
                                        "(times a swell over the whole swirl).")
    stretch_method: Literal["rubberband", "paulstretch"] = Field(
        "rubberband", description="Time-stretcher: Rubber Band (clean) or the reference's "
        "paulstretch smear.")
    brightness: tuple[float, float] = Field(BRIGHTNESS, description="Resting and brightest.")
    match_db: float | None = Field(-16.0, le=0, description="Set each clip's RMS (dBFS) "
                                   "before it is stretched.")
    pad_after_ms: float = Field(6000.0, ge=0, description="The reference forces 6 s.")

    @model_validator(mode="after")
    def _ranges(self) -> FlowParams:
        check_pair("brightness", self.brightness, "rest", "brightest")
        check_pair("volume", self.volume, "low", "high", top=4)
        if self.play_ms >= self.rotation_ms * self.rotations:
            raise ConfigError("play_ms must be shorter than the swirl (rotation_ms × rotations)")
        return self

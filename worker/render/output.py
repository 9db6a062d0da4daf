"""Parameters every video composition shares: frame, rate, encoder, chunks and the audio mix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from core.render_kinds import RenderParams
from worker.render.engine.encode import PRESETS


class VideoRenderParams(RenderParams):
    """Output size and rate, H.264 quality, chunking and the mix's loudness (for any kind)."""

    width: int = Field(1920, ge=16, le=8192, description="Frame width (even).")
    height: int = Field(1080, ge=16, le=8192, description="Frame height (even).")
    fps: int = Field(24, ge=1, le=120)
    crf: int = Field(20, ge=0, le=51, description="x264 constant rate factor (lower is better).")
    preset: Literal[PRESETS] = Field("veryfast", description="x264 preset.")  # type: ignore[valid-type]
    threads: int = Field(2, ge=1, le=16, description="x264 threads per chunk (fixed, so the "
                         "output bytes do not depend on the machine).")
    chunk_s: float = Field(10.0, gt=0, description="Seconds of video per render target.")
    loudness: float = Field(-16.0, ge=-40, le=-5, description="Integrated loudness of the "
                            "mix (LUFS).")
    ceiling_db: float = Field(-1.0, ge=-12, le=0, description="True-peak ceiling of the "
                              "limiter (dBTP).")
    lossless: Literal["wav", "flac"] | None = Field(None, description="Also write the mix "
                                                    "losslessly beside the mp4.")

    @model_validator(mode="after")
    def _even(self) -> VideoRenderParams:
        if self.width % 2 or self.height % 2:
            raise ConfigError(f"width and height must be even, got {self.width}x{self.height}")
        return self

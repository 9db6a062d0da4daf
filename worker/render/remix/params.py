"""The `remix` render's parameters (a job's `[[render]] kind = "remix"` table, or the CLI's)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.render_kinds import RenderParams


class RemixParams(RenderParams):
    """A silence-split random remix of a film (optionally drawing from several films)."""

    kind: Literal["remix"] = "remix"
    duration: float = Field(300.0, gt=0, description="Target length (s); the seed's post: 300.")
    seed: int = 0
    films: int = Field(1, ge=1, description="Films of the subset whose segments fill the remix.")
    each: bool = Field(False, description="One remix per film of the subset (else one in all).")
    window_ms: float = Field(100.0, gt=0, le=1000, description="Silence search window.")
    min_sound_ms: float = Field(300.0, ge=0, description="Sound needed before a new cut.")
    threshold_db: float = Field(-24.0, le=0, description="Silent: peak this far under the "
                                "file's level (95th percentile of window peaks).")
    absolute_threshold: float | None = Field(None, gt=0, le=1, description="Silent: peak "
                                             "under this (the seed's 0.02); overrides dB.")
    no_repeat: int = Field(3, ge=0, description="No segment repeats within this many picks.")
    crossfade_ms: float = Field(20.0, ge=0, le=500, description="Equal-power crossfade at "
                                "joins (0: hard cuts, which click).")
    width: int = Field(0, ge=0, description="Output width (0: the first film's).")
    height: int = Field(0, ge=0, description="Output height (0: the first film's).")
    crf: float = Field(20.0, ge=0, le=51)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                    "slow", "slower", "veryslow"] = "veryfast"
    sr: int = Field(48000, ge=8000, le=96000, description="Output audio rate (stereo AAC).")

"""The vsamples stage's parameters (the `[vsamples]` table, optional): the reference's span
lengths and the seed of the random extra."""

from __future__ import annotations

from pydantic import Field

from core.stages import StageParams
from worker.vsamples.spans import SpanParams


class VsamplesParams(StageParams):
    """How long a grid cell's picture span is, and the seed that makes it reproducible."""

    target_ms: float = Field(1200.0, gt=0, description="Extend a short sample to the smallest "
                             "whole multiple of itself reaching this (ms).")
    var_ms: int = Field(400, ge=0, description="Plus a seeded random 0..var_ms (ms).")
    min_ms: float = Field(256.0, ge=0, description="A cut this soon after the start moves "
                          "the start after it (ms).")
    seed: int = Field(1, description="Seeds the random extra: the same seed, the same spans.")

    def spans(self) -> SpanParams:
        """As the pure code's SpanParams."""
        return SpanParams(self.target_ms, self.var_ms, self.min_ms, self.seed)

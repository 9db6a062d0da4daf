"""The job-spec tables of the picture stages: `[frames]`, `[loops]`, `[duplicates]` and
`[[frame_map]]`, each turned into the pure code's parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from core.stages import StageParams
from worker.frames.duplicates import DuplicateParams
from worker.frames.fingerprint import FingerprintParams
from worker.frames.framemap import METHODS, SPACES, FrameMapParams
from worker.frames.loops import LoopParams

_LOOPS = LoopParams()
_DUPS = DuplicateParams()
_MAP = FrameMapParams()


class FramesParams(StageParams):
    """[frames]: one fingerprint pass per video file."""

    every: int = Field(1, ge=1, description="Fingerprint every Nth frame (1: all).")
    threads: int = Field(1, ge=0, description="Decoder threads per file (0: ffmpeg decides; "
                         "workers already run one file per core).")
    fast: bool = Field(True, description="Skip H.264/HEVC deblocking (invisible at 32×32).")

    def fingerprint(self) -> FingerprintParams:
        return FingerprintParams(every=self.every, threads=self.threads, fast=self.fast)


class LoopsParams(StageParams):
    """[loops]: repeated stretches within each file."""

    min_length: float = Field(_LOOPS.min_length, gt=0, description="Shortest loop (s).")
    min_offset: float = Field(_LOOPS.min_offset, gt=0,
                              description="Shortest time between a stretch and its repeat (s).")
    tolerance: int = Field(_LOOPS.tolerance, ge=0, le=128,
                           description="Most differing pHash + dHash bits per frame.")
    min_contrast: float = Field(_LOOPS.min_contrast, ge=0,
                                description="Frames flatter than this are never matched.")
    max_gap: int = Field(_LOOPS.max_gap, ge=0, description="Unmatched frames tolerated inside.")
    plot: bool = Field(True, description="Draw each file's loops along its timeline (PNG).")

    def loop_params(self) -> LoopParams:
        return LoopParams(min_length=self.min_length, min_offset=self.min_offset,
                          tolerance=self.tolerance, min_contrast=self.min_contrast,
                          max_gap=self.max_gap)


class DuplicatesParams(StageParams):
    """[duplicates]: stretches of one file's picture shown in another."""

    min_length: float = Field(_DUPS.min_length, gt=0, description="Shortest duplicate (s).")
    tolerance: int = Field(_DUPS.tolerance, ge=0, le=128)
    min_contrast: float = Field(_DUPS.min_contrast, ge=0)
    max_gap: int = Field(_DUPS.max_gap, ge=0)
    index_every: int = Field(_DUPS.index_every, ge=1,
                             description="Index every Nth indexable frame per file.")

    def duplicate_params(self) -> DuplicateParams:
        return DuplicateParams(min_length=self.min_length, tolerance=self.tolerance,
                               min_contrast=self.min_contrast, max_gap=self.max_gap,
                               index_every=self.index_every)


class FrameMapStageParams(StageParams):
    """[[frame_map]]: frames of the job's films (or those matching `files`) in 2-D."""

    name: str = Field("main", min_length=1, max_length=200,
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    files: str = Field("*", description="Glob over file keys: which films the map takes.")
    rate: float = Field(_MAP.rate, gt=0, description="Frames per second of film.")
    methods: list[Literal["tsne", "umap", "mds"]] = Field(default_factory=lambda: list(METHODS))
    spaces: list[Literal["gray", "hsl"]] = Field(default_factory=lambda: list(SPACES))
    perplexity: float = Field(_MAP.perplexity, gt=0)
    iterations: int = Field(_MAP.iterations, ge=50)
    seed: int = _MAP.seed
    threads: int = Field(_MAP.threads, ge=1)
    mds_max: int = Field(_MAP.mds_max, ge=0)
    thumb_width: int = Field(_MAP.thumb_width, ge=16, le=320,
                             description="Sprite thumbnails (16: the stored ones, no decoding).")
    picture: str = Field(_MAP.picture, description="The layout drawn in the PNG.")
    picture_size: int = Field(_MAP.picture_size, ge=256, le=8192)

    @field_validator("methods", "spaces")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one")
        return value

    @field_validator("picture")
    @classmethod
    def _picture(cls, value: str) -> str:
        method, _, space = value.partition("_")
        if method not in METHODS or space not in SPACES:
            raise ValueError(f"must be <method>_<space>, e.g. tsne_gray; methods {METHODS}, "
                             f"spaces {SPACES}")
        return value

    def map_params(self) -> FrameMapParams:
        return FrameMapParams(rate=self.rate, methods=tuple(self.methods),
                              spaces=tuple(self.spaces), perplexity=self.perplexity,
                              iterations=self.iterations, seed=self.seed, threads=self.threads,
                              mds_max=self.mds_max, thumb_width=self.thumb_width,
                              picture=self.picture, picture_size=self.picture_size)

"""The `resynth` render's parameters (a job's `[[render]] kind = "resynth"` table, or the CLI's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from core.errors import ConfigError
from core.render_kinds import RenderParams


class ResynthParams(RenderParams):
    """Concatenative synthesis: a target sound rebuilt from the frames of a subset's films."""

    kind: Literal["resynth"] = "resynth"
    target: str = Field("", description="The sound to rebuild: any audio or video file "
                        "(relative paths are from the job file).")
    audio: Literal["target", "source", "mix"] = Field(
        "target", description="Sound of the output: the target's, the chosen frames' own "
        "(concatenated), or both mixed.")
    mix_target_db: float = Field(-3.0, le=12, description="Target's gain in the mix (dB).")
    mix_source_db: float = Field(-6.0, le=12, description="Source's gain in the mix (dB).")
    k: int = Field(10, ge=1, le=200, description="Candidates per target frame.")
    continuity: float = Field(4.0, ge=0, description="Cost of a cut between runs, times the "
                              "median distance to the k-th candidate (0: nearest frame only).")
    block: int = Field(256, ge=2, description="Frames per Viterbi block.")
    fps: float = Field(25.0, gt=0, le=240, description="Frame rate for an audio-only target.")
    crossfade_ms: float = Field(10.0, ge=0, le=200, description="Crossfade between runs of "
                                "source audio.")
    index: Literal["faiss-ivf", "faiss-hnsw", "hnswlib", "exact"] = "faiss-ivf"
    nprobe: int = Field(32, ge=1, description="IVF cells searched per query.")
    width: int = Field(0, ge=0, description="Output width (0: the first source film's).")
    height: int = Field(0, ge=0, description="Output height (0: the first source film's).")
    crf: float = Field(20.0, ge=0, le=51)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                    "slow", "slower", "veryslow"] = "veryfast"
    sr: int = Field(48000, ge=8000, le=96000, description="Output audio rate (stereo AAC).")

    @field_validator("target")
    @classmethod
    def _from_job_file(cls, value: str, info: ValidationInfo) -> str:
        """A relative target is taken from the job file's folder (validation context `base`)."""
        base = (info.context or {}).get("base")
        if value and base is not None and not Path(value).is_absolute():
            return str((Path(base) / value).resolve())
        return value


def check(params: ResynthParams, spec: dict[str, Any]) -> None:
    """At submit: a job's resynth render names a target file that exists."""
    if not params.target:
        raise ConfigError("target: a resynth render needs target = \"<audio or video file>\"")
    if not Path(params.target).is_file():
        raise ConfigError(f"target: no such file: {params.target}")

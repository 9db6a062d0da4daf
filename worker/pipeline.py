"""The built-in pipeline: each stage's place, queue, parameters (its job-spec table) and targets.

source → download (archive.org files) | checksum (local files) → probe → analyze
→ subset → layout → render. Declarations only; the tasks live in worker/tasks/<stage>.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from core.stages import Stage, StageParams, register

# --- parameter tables -------------------------------------------------------------------


class LocalSource(StageParams):
    """A folder of media catalogued in place."""

    kind: Literal["local"]
    folder: str = Field(description="Folder to scan (relative paths are from the job file).")
    patterns: list[str] = Field(
        default_factory=lambda: ["**/*.mp4", "**/*.mkv", "**/*.mov", "**/*.webm", "**/*.avi",
                                 "**/*.mp3", "**/*.wav", "**/*.flac", "**/*.ogg", "**/*.m4a"],
        description="Glob patterns relative to the folder.",
    )


class InternetArchiveSource(StageParams):
    """An archive.org advanced-search query and the files to take from each item."""

    kind: Literal["internet_archive"]
    query: str = Field(min_length=1)
    format: list[str] = Field(default_factory=lambda: [".mp4"])
    multi: bool = False
    endpoint: str = ""
    fields: list[str] | None = None
    sort: list[str] = Field(default_factory=lambda: ["downloads desc"])
    limit: int | None = Field(None, ge=1)

    @field_validator("format", "sort", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


SourceParams = Annotated[LocalSource | InternetArchiveSource, Field(discriminator="kind")]


class DownloadParams(StageParams):
    attempts: int | None = Field(None, ge=1, description="Override SAMPLEMILL_DOWNLOAD_ATTEMPTS.")
    max_file_mb: int | None = Field(None, ge=0, description="Refuse larger files (0: no cap).")


class ChecksumParams(StageParams):
    pass


class ProbeParams(StageParams):
    fast: bool = Field(False, description="Read container metadata only.")


class AnalyzeParams(StageParams):
    method: Literal["onset", "silence"] = "onset"
    sr: int = Field(22050, ge=4000, le=96000)
    min_ms: float = Field(80.0, ge=0)
    max_ms: float = Field(1000.0, gt=0)
    delta: float = Field(0.07, ge=0)
    silence_threshold_db: float = Field(-40.0, le=0)
    silence_frame_ms: float = Field(20.0, gt=0)
    silence_min_gap_ms: float = Field(250.0, ge=0)
    samples: int = Field(-1, ge=-1, description="Most samples kept per file (-1: all).")
    filter: str = Field("", description="Sample filter applied before storing.")

    @model_validator(mode="after")
    def _ordered(self) -> AnalyzeParams:
        if self.max_ms <= self.min_ms:
            raise ValueError("max_ms must be greater than min_ms")
        return self


class SubsetParams(StageParams):
    name: str = Field("main", min_length=1, max_length=200)
    filter: str = "samples>0"
    ffilter: str = ""
    fsort: str = ""
    flim: int | None = Field(None, ge=1)
    lim: int = Field(16384, ge=1)
    shuffle: bool = False
    seed: int = 0


GRID = re.compile(r"^(\d{1,4})x(\d{1,4})$")


class LayoutParams(StageParams):
    subset: str = "main"
    method: Literal["tsne", "umap"] = "tsne"
    perplexity: float = Field(30.0, gt=0)
    learning_rate: float | Literal["auto"] = "auto"
    iterations: int = Field(750, ge=50)
    seed: int = 0
    threads: int = Field(2, ge=1)
    grid: str = Field("", description="WxH, e.g. 128x128; empty for no grid.")
    grid_method: Literal["assignment", "rasterfairy"] = "assignment"
    grid_sort: str = Field(
        "power=desc", description="Sort applied when there are more samples than cells."
    )

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: str) -> str:
        if value and not GRID.match(value):
            raise ValueError("grid must look like 128x128")
        return value


class RenderParams(StageParams):
    kind: Literal["sorted_audio"]
    name: str = ""
    subset: str = "main"
    sort: str = Field("tsne=asc", description="tsne|hz|power|clarity|dur = asc|desc")
    format: Literal["wav", "flac", "mp3"] = "wav"
    overlap_ms: float = Field(128.0, ge=0)
    fade_ms: float = Field(10.0, ge=0)
    pad_before_ms: float = Field(500.0, ge=0)
    pad_after_ms: float = Field(2000.0, ge=0)
    match_db: float | None = -16.0
    volume: float = Field(0.6, gt=0, le=1.0)
    limit: int | None = Field(None, ge=1)

    @property
    def resolved_name(self) -> str:
        return self.name or f"{self.kind}-{self.subset}"


# --- which stages a job runs ------------------------------------------------------------


def _source_kind(spec: dict[str, Any]) -> str:
    return str(spec.get("source", {}).get("kind", ""))


def _has(*tables: str):  # type: ignore[no-untyped-def]
    return lambda spec: any(t in spec for t in tables)


def _names(table: str, attr: str = "name", default: str = "main"):  # type: ignore[no-untyped-def]
    def keys(spec: dict[str, Any]) -> list[str]:
        names: list[str] = []
        for entry in spec.get(table, []):
            if table == "render":
                names.append(entry.get("name") or f"{entry['kind']}-{entry.get('subset', 'main')}")
            else:
                names.append(entry.get(attr) or default)
        return names

    return keys


STAGES = [
    Stage(name="source", queue="io", scope="job", order=0, task_name="samplemill.source",
          table="source", keys=lambda spec: ["source"],
          description="list a local folder or scrape archive.org into items and files"),
    Stage(name="download", queue="io", scope="file", order=10, task_name="samplemill.download",
          params=DownloadParams, table="download",
          enabled=lambda spec: _source_kind(spec) == "internet_archive",
          applies_to=lambda f: f.url.is_not(None),
          description="fetch a remote file, resumable and checksum-verified"),
    Stage(name="checksum", queue="io", scope="file", order=11, task_name="samplemill.checksum",
          params=ChecksumParams, table="checksum",
          enabled=lambda spec: _source_kind(spec) == "local",
          applies_to=lambda f: f.url.is_(None),
          description="size and md5 of a local file, catalogued in place"),
    Stage(name="probe", queue="cpu", scope="file", order=20, task_name="samplemill.probe",
          params=ProbeParams, table="probe", enabled=_has("probe", "analyze"),
          description="duration, audio and video tracks"),
    Stage(name="analyze", queue="cpu", scope="file", order=30, task_name="samplemill.analyze",
          params=AnalyzeParams, table="analyze", enabled=_has("analyze"),
          skip_when=lambda f: f.has_audio.is_not(True),
          description="onset-cut samples with features, per-file statistics"),
    Stage(name="subset", queue="cpu", scope="job", order=40, task_name="samplemill.subset",
          params=SubsetParams, table="subset", many=True, enabled=_has("subset"),
          keys=_names("subset"), description="a stored selection of samples"),
    Stage(name="layout", queue="cpu", scope="job", order=50, task_name="samplemill.layout",
          params=LayoutParams, table="layout", many=True, enabled=_has("layout"),
          keys=_names("layout", attr="subset"), description="t-SNE order and map, grid"),
    Stage(name="render", queue="render", scope="job", order=60, task_name="samplemill.render",
          params=RenderParams, table="render", many=True, enabled=_has("render"),
          keys=_names("render"), description="compositions from a subset"),
]

for _stage in STAGES:
    register(_stage)

TASK_MODULES = tuple(f"worker.tasks.{s.name}" for s in STAGES)

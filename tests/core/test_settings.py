"""Settings: one object, SAMPLEMILL_* variables over an optional TOML file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings, get_settings, reset_settings


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("SAMPLEMILL_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    reset_settings()


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path("samplemill-data")
    assert s.resolved_catalog_url.endswith("samplemill-data/catalog.sqlite")
    assert s.resolved_broker_url.startswith("redis+socket://")
    assert s.queue_limits["io"] > 0


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "conf.toml"
    cfg.write_text('concurrency = 7\ndata_dir = "/srv/x"\n[queue_limits]\nio = 3\ncpu = 1\n')
    monkeypatch.setenv("SAMPLEMILL_CONFIG", str(cfg))
    monkeypatch.setenv("SAMPLEMILL_CONCURRENCY", "5")
    s = get_settings()
    assert s.concurrency == 5 and s.data_dir == Path("/srv/x") and s.queue_limits["io"] == 3


def test_unknown_file_key_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "conf.toml"
    cfg.write_text("concurrancy = 2\n")
    monkeypatch.setenv("SAMPLEMILL_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="concurrancy"):
        get_settings()


def test_bad_env_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLEMILL_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match="concurrency"):
        get_settings()


def test_long_data_dir_gets_a_short_broker_socket(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / ("x" * 120))
    assert len(str(s.broker_socket)) < 100


def test_every_setting_is_documented() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no help text"
        assert f"SAMPLEMILL_{name.upper()}" in readme, f"SAMPLEMILL_{name.upper()} not in README"

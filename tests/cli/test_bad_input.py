"""Every command, given bad input, says what is wrong in one clear line and exits 2: never a
traceback. Read commands never create a catalog, and say where they looked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.settings import reset_settings
from scheduler.cli import main
from tests.mediagen import harmonic_tone, write_media
from tests.pipeline_harness import configure


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings pointing at an empty data folder (no catalog yet); returns the work folder."""
    configure(monkeypatch, tmp_path)
    return tmp_path


def invoke(*args: object, env_vars: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, [str(a) for a in args], env=env_vars)
    return result


def assert_one_line(result, needle: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    """Exit `code`, no traceback, and an error line containing `needle`."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith(("error:", "Error:"))]
    assert errors and needle in result.output, result.output


@pytest.fixture
def job_file(env: Path) -> Path:
    (env / "media").mkdir()
    path = env / "job.toml"
    path.write_text('name = "j"\n[source]\nkind = "local"\nfolder = "media"\n[probe]\n')
    return path


@pytest.fixture
def film(env: Path) -> Path:
    tone = harmonic_tone(220.0, 2.0, 22050)
    return write_media(env / "tone.wav", tone, 22050)


READS = [
    ("jobs",), ("status",), ("status", "1"), ("failures", "1"), ("outputs", "1"),
    ("query", "samples"), ("stats", "totals"), ("subset", "list"),
    ("subset", "show", "--job", "1", "--name", "x"), ("verify", "1"), ("db", "current"),
    ("retry", "1"), ("cancel", "1"), ("resume", "1"), ("delete", "1", "--yes"),
    ("subset", "create", "--job", "1", "--name", "x"),
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_commands_on_a_missing_catalog_create_none(env: Path, args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert_one_line(result, "no samplemill catalog at ")
    assert str(env / "data" / "catalog.sqlite") in result.output
    assert not (env / "data" / "catalog.sqlite").exists()


def test_bad_input_per_command(env: Path, job_file: Path, film: Path) -> None:
    assert invoke("submit", job_file).exit_code == 0  # now there is a catalog and job 1
    junk = env / "junk.mp4"
    junk.write_bytes(b"not a film at all")
    bad_toml = env / "bad.toml"
    bad_toml.write_text("[source\n")
    typo = env / "typo.toml"
    typo.write_text('[source]\nkind = "local"\nfolder = "media"\n[analyze]\nmax_msec = 3\n')
    cases = [
        (("submit", bad_toml), "not valid TOML"),
        (("submit", typo), "unknown key 'analyze.max_msec'; did you mean 'max_ms'?"),
        (("submit", job_file), "has this very spec"),
        (("run", typo), "did you mean 'max_ms'?"),
        (("run", env / "nope.toml"), "does not exist"),
        (("status", "99"), "no job 99"),
        (("failures", "99"), "no job 99"),
        (("outputs", "99"), "no job 99"),
        (("retry", "99"), "no job 99"),
        (("retry", "1", "--stage", "analyse"), "job 1 has no stage 'analyse'"),
        (("cancel", "99"), "no job 99"),
        (("resume", "1"), "not cancelled"),
        (("delete", "99", "--yes"), "no job 99"),
        (("delete", "1"), "pass --yes"),
        (("verify", "99"), "no job 99"),
        (("query", "samples", "--where", "powr>0"), "did you mean 'power'?"),
        (("query", "samples", "--format", "parquet"), "--out"),
        (("query", "filez"), "Invalid value for '{samples|files|items"),
        (("stats", "hist", "--props", "loudness"), "'loudness' is not a numeric"),
        (("subset", "create", "--job", "99", "--name", "x"), "no job 99"),
        (("subset", "create", "--job", "1", "--name", "x", "--filter", "samples>>0"),
         "filter: samples is a number"),
        (("subset", "show", "--job", "1", "--name", "nope"), "no subset named 'nope'"),
        (("analyze", junk), "cannot open"),
        (("analyze", film, "--min-ms", "2000", "--max-ms", "100"),
         "max_ms must be greater than min_ms"),
        (("analyze", env / "missing.wav"), "does not exist"),
        (("sort-audio", film, "--sort", "pitch=up", "--out", env / "o.wav"),
         "--sort 'pitch=up': use key=asc|desc with key in clarity, dur, hz, midi, power, start, "
         "tsne"),
        (("sort-audio", film, "--out", env / "o.ogg"), "--out must end in .wav"),
        (("demo-media", junk), "is a file"),
        (("queue",), "no broker"),
        (("db", "upgrade", "--revision", "nosuch"), "--revision"),
        (("stauts",), "Did you mean"),
    ]
    for args, needle in cases:
        assert_one_line(invoke(*args), needle)
    assert "[Errno" not in invoke("analyze", junk).output, "no FFmpeg errno for people"


def test_bad_settings_are_one_line(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLEMILL_CONCURRENCY", "0")
    job = env / "x.toml"
    job.write_text('[source]\nkind = "local"\nfolder = "."\n')
    for args in (("jobs",), ("worker",), ("scheduler", "--once"), ("run", job)):
        reset_settings()
        assert_one_line(invoke(*args), "setting 'concurrency'")
    reset_settings()


def test_json_errors_still_print_json_free_errors(env: Path, job_file: Path) -> None:
    assert invoke("submit", job_file).exit_code == 0
    result = invoke("failures", "1", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []

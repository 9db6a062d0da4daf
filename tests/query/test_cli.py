"""The query, stats and subset commands through click's CliRunner on a real catalog."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from core.settings import reset_settings
from db.engine import dispose_engines, get_engine
from scheduler.commands.query import query, stats, subset
from tests.catalog_factory import Catalog, build_catalog


@pytest.fixture
def cli_catalog(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Catalog]:
    monkeypatch.setenv("SAMPLEMILL_CATALOG_URL", sqlite_url)
    monkeypatch.setenv("SAMPLEMILL_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    yield build_catalog(get_engine(sqlite_url), seed=4, items=8)
    reset_settings()
    dispose_engines()


def run(*args: object) -> str:
    result = CliRunner().invoke(args[0], [str(a) for a in args[1:]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_query_formats(cli_catalog: Catalog, tmp_path: Path) -> None:
    job = cli_catalog.job_id
    expected = sorted(
        (r for r in cli_catalog.samples if r["octave"] > 1 and r["power"] > 0.5),
        key=lambda r: (-r["power"], r["file_id"], r["start"], r["id"]),
    )[:10]
    out = run(query, "samples", "--job", job, "--where", "octave>1&power>0.5", "--sort",
              "power=desc", "--limit", 10, "--columns", "id,power,file.filename",
              "--format", "csv")  # fmt: skip
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["id", "power", "file.filename"]
    assert [int(r[0]) for r in rows[1:]] == [r["id"] for r in expected]
    data = json.loads(run(query, "files", "--job", job, "--where", "samples>0",
                          "--columns", "id,samples", "--format", "json"))  # fmt: skip
    assert sorted(d["id"] for d in data) == sorted(
        f["id"] for f in cli_catalog.files if f["samples"] > 0
    )
    table = run(query, "items", "--job", job, "--limit", 3)
    assert "identifier" in table and cli_catalog.items[0]["identifier"] in table
    target = tmp_path / "s.parquet"
    run(query, "samples", "--job", job, "--format", "parquet", "--out", target)
    assert pq.read_table(target).num_rows == len(cli_catalog.samples)


def test_out_infers_the_format_and_says_what_it_wrote(cli_catalog: Catalog, tmp_path: Path) -> None:
    job, n = cli_catalog.job_id, len(cli_catalog.samples)
    for name, read in (("s.json", lambda p: len(json.loads(p.read_text()))),
                       ("s.csv", lambda p: len(p.read_text().splitlines()) - 1),
                       ("s.parquet", lambda p: pq.read_table(p).num_rows)):
        target = tmp_path / name
        said = CliRunner().invoke(query, ["samples", "--job", str(job), "--out", str(target)])
        assert said.exit_code == 0, said.output
        assert read(target) == n, name
        fmt = name.split(".")[1]
        assert f"wrote {n} samples row(s) to {target} ({fmt})" in said.output
    boxed = tmp_path / "s.txt"
    CliRunner().invoke(query, ["samples", "--job", str(job), "--limit", "2", "--out", str(boxed)])
    assert "power" in boxed.read_text()
    odd = CliRunner().invoke(query, ["samples", "--out", str(tmp_path / "s.xlsx")])
    assert odd.exit_code == 2 and "give --format, or end the file in .csv" in odd.output
    assert not (tmp_path / "s.xlsx").exists()


def test_query_errors_are_clear(cli_catalog: Catalog) -> None:
    result = CliRunner().invoke(query, ["samples", "--where", "powr>1"])
    assert result.exit_code == 2
    assert "unknown column 'powr'" in result.output and "valid names:" in result.output
    assert "  powr>1\n" in result.output and "  ^^^^\n" in result.output
    result = CliRunner().invoke(query, ["samples", "--format", "parquet"])
    assert result.exit_code == 2 and "--out" in result.output


def test_stats_commands(cli_catalog: Catalog, tmp_path: Path) -> None:
    job = cli_catalog.job_id
    totals = json.loads(run(stats, "totals", "--job", job, "--json"))
    assert totals["samples"] == len(cli_catalog.samples)
    assert "files with samples" in run(stats, "totals")
    out = run(stats, "hist", "--job", job, "--of", "samples", "--where", "hz>0",
              "--props", "power,hz", "--out", tmp_path / "plots")  # fmt: skip
    assert "power:" in out and "hz:" in out
    assert (tmp_path / "plots" / "hist-samples-power.png").stat().st_size > 1000
    run(stats, "hist", "--job", job, "--out", tmp_path / "plots")
    assert (tmp_path / "plots" / "hist-files-medianClarity.png").exists()
    out = run(stats, "scatter", "--job", job, "--props", "medianHz,medianPower",
              "--out", tmp_path / "plots")  # fmt: skip
    assert (tmp_path / "plots" / "scatter-files-medianHz-medianPower.png").exists()
    assert "points" in out


def test_subset_commands(cli_catalog: Catalog) -> None:
    job = cli_catalog.job_id
    out = run(subset, "create", "--job", job, "--name", "loud", "--ffilter", "octave>1&power>0",
              "--fsort", "power=desc=0.75&clarity=desc", "--flim", 5, "--lim", 30)  # fmt: skip
    assert "30 samples" in out
    assert "loud" in run(subset, "list", "--job", job)
    shown = json.loads(run(subset, "show", "--job", job, "--name", "loud", "--json"))
    assert shown["count"] == 30 and len(shown["sample_ids"]) == 30
    assert "power" in run(subset, "show", "--job", job, "--name", "loud", "--limit", 5)
    result = CliRunner().invoke(subset, ["show", "--job", str(job), "--name", "nope"])
    assert result.exit_code == 2 and "no subset named 'nope'" in result.output

"""Job specs: valid ones are stored; bad ones fail at submit with a message naming the key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.errors import ConfigError
from db.engine import session_scope
from db.models import Job
from scheduler.cli import main
from scheduler.jobspec import load_spec, validate_spec
from tests.pipeline_harness import catalog, configure

LOCAL = {"kind": "local", "folder": str(Path(__file__).parent)}  # a folder that exists


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"source": LOCAL, "analyse": {}}, "unknown key 'analyse'; did you mean 'analyze'?"),
        ({"source": LOCAL, "analyze": {"max_msec": 9}},
         "unknown key 'analyze.max_msec'; did you mean 'max_ms'? allowed: delta,"),
        ({"source": LOCAL, "analyze": {"min_ms": "short"}}, "analyze.min_ms"),
        ({"source": LOCAL, "analyze": {"method": "magic"}}, "analyze.method"),
        ({"source": LOCAL, "analyze": {"min_ms": 500, "max_ms": 100}}, "max_ms must be greater"),
        ({"source": LOCAL, "probe": {"fast": "yes please"}}, "probe.fast"),
        ({"name": "no source"}, "missing key 'source'"),
        ({"source": {"kind": "ftp"}}, "source.kind: unknown kind 'ftp'; known: local, "
                                      "internet_archive"),
        ({"source": {"folder": "x"}}, "missing key 'source.kind'"),
        ({"source": {"kind": "local"}}, "missing key 'source.folder'"),
        ({"source": {**LOCAL, "glob": "*"}}, "unknown key 'source.glob'; allowed: "
                                              "folder, kind, patterns"),
        ({"source": {"kind": "local", "folder": "/no/such/folder"}},
         "source.folder: no such folder: /no/such/folder"),
        ({"source": {"kind": "internet_archive", "query": ""}}, "source.query"),
        ({"source": LOCAL, "subset": [{"name": "a"}, {"name": "a"}]},
         "subset names must be unique"),
        ({"source": LOCAL, "subset": [{"lim": 0}]}, "subset[0].lim"),
        ({"source": LOCAL, "subset": [{}], "layout": [{"subset": "other"}]},
         "layout[0].subset: no subset named 'other'"),
        ({"source": LOCAL, "subset": [{}], "layout": [{"grid": "big"}]}, "grid must look like"),
        ({"source": LOCAL, "subset": [{}], "render": [{"kind": "sorted_audio"}]},
         "render[0].sort: sorting by tsne needs a [[layout]]"),
        ({"source": LOCAL, "subset": [{}], "render": [{"kind": "grid_movie"}]},
         "render[0].kind: unknown kind 'grid_movie'; known: "),
        ({"source": LOCAL, "subset": [{}], "render": [{"kind": "sorted_audio", "sort": "hz=up"}]},
         "render[0].sort: "),
        ({"source": LOCAL, "subset": [{}], "render": [{"kind": "sorted_audio", "sort": "hz=asc",
                                                       "overlapms": 1}]},
         "unknown key 'render[0].overlapms'; did you mean 'overlap_ms'?"),
        ({"source": LOCAL, "subset": [{"filter": "samples>>0"}]}, "subset[0].filter: "),
        ({"source": LOCAL, "subset": [{"fsort": "pitch=desc"}]}, "subset[0].fsort: "),
        ({"source": LOCAL, "analyze": {"filter": "powr>0"}}, "analyze.filter: unknown column"),
        ({"source": LOCAL, "subset": [{}], "layout": [{"grid_sort": "tsne=asc"}]},
         "layout[0].grid_sort: "),
        ({"source": LOCAL, "subset": [{}], "layout": [{}, {}]},
         "layout[1]: layout subsets must be unique"),
    ],
)
def test_bad_specs_name_the_key(spec: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_spec(spec)
    assert needle in str(err.value)


def test_defaults_are_filled_in() -> None:
    spec = validate_spec({"source": {"kind": "internet_archive", "query": "collection:x",
                                     "format": ".mp3"}, "analyze": {}})
    assert spec["source"]["format"] == [".mp3"]
    assert spec["source"]["sort"] == ["downloads desc"]
    assert spec["analyze"]["min_ms"] == 80.0 and spec["analyze"]["delta"] == 0.07


def test_relative_folder_is_resolved_from_the_job_file(tmp_path: Path) -> None:
    job = tmp_path / "jobs" / "a.toml"
    job.parent.mkdir()
    (tmp_path / "media").mkdir()
    job.write_text('[source]\nkind = "local"\nfolder = "../media"\n')
    spec, text = load_spec(job)
    assert spec["source"]["folder"] == str((tmp_path / "media").resolve())
    assert "local" in text


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    job = tmp_path / "a.toml"
    job.write_text("[source\nkind=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(job)


def test_examples_are_valid(tmp_path: Path) -> None:
    """Every example validates once the local folder it names exists (the demo makes it)."""
    for path in sorted(Path(__file__).parents[2].joinpath("examples").glob("*.toml")):
        source = tomllib.loads(path.read_text())["source"]
        if source["kind"] == "local":
            (tmp_path / source["folder"]).mkdir(parents=True, exist_ok=True)
        copy = tmp_path / path.name
        copy.write_text(path.read_text())
        load_spec(copy)


def test_submit_cli_stores_valid_and_refuses_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    good = tmp_path / "good.toml"
    good.write_text('name = "g"\n[source]\nkind = "local"\nfolder = "."\n[probe]\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[source]\nkind = "local"\nfolder = "."\n[probe]\nfats = true\n')
    runner = CliRunner()
    ok = runner.invoke(main, ["submit", str(good), "--json"])
    assert ok.exit_code == 0, ok.output
    job_id = json.loads(ok.output)["job"]
    refused = runner.invoke(main, ["submit", str(bad)])
    assert refused.exit_code == 2
    assert "unknown key 'probe.fats'" in refused.output and "allowed: fast" in refused.output
    with session_scope(catalog(settings)) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
        job = session.get(Job, job_id)
        assert job is not None and job.spec["probe"] == {"fast": False}

"""Render kinds are plug-ins: a kind registered from the tests alone is validated at submit by
its own model and check, routed to its own queue, and run by the generic render task."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Literal

import pytest
from rich.console import Console
from sqlalchemy import select

from core.errors import ConfigError
from core.render_kinds import RenderKind, RenderParams, get_kind, known_kinds
from core.stages import get_stage
from db.engine import session_scope
from db.models import Artifact, Sample, SubsetMember, Target, TargetStatus, TaskRun
from scheduler.jobspec import validate_spec
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure, make_folder

EXTRA = json.dumps(["tests.pipeline_stages", "tests.render.listing_kind"])


@pytest.fixture
def listing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings that load the test kind; returns a folder of small files."""
    configure(monkeypatch, tmp_path, extra_stages=EXTRA)
    return make_folder(tmp_path, 6)


def spec(folder: Path, *renders: dict) -> dict:
    return {"name": "kinds", "source": {"kind": "local", "folder": str(folder),
                                        "patterns": ["*.txt"]},
            "fake_analyze": {"samples_per_file": 2}, "subset": [{"name": "main"}],
            "render": list(renders)}


def test_builtin_kinds_are_found_without_a_list() -> None:
    assert "sorted_audio" in {k.name for k in known_kinds()}
    assert get_kind("sorted_audio").handler == "worker.render.sorted_audio.handler:handle"


def test_unknown_kind_lists_the_known_ones(listing: Path) -> None:
    with pytest.raises(ConfigError) as err:
        validate_spec(spec(listing, {"kind": "grid_movie"}))
    message = str(err.value)
    assert "render[0].kind: unknown kind 'grid_movie'; known:" in message
    assert "listing" in message and "sorted_audio" in message
    with pytest.raises(ConfigError, match=r"unknown render kind 'grid_movie'; known: .*listing"):
        get_kind("grid_movie")


def test_a_kind_validates_with_its_own_model_and_check(listing: Path) -> None:
    out = validate_spec(spec(listing, {"kind": "listing", "sort": "power=desc"}))
    assert out["render"] == [{"kind": "listing", "name": "", "subset": "main",
                              "sort": "power=desc", "fail": False}]
    with pytest.raises(ConfigError, match=r"render\[0\].sort: .*key in clarity"):
        validate_spec(spec(listing, {"kind": "listing", "sort": "loudness=desc"}))
    with pytest.raises(ConfigError, match=r"unknown key 'render\[0\].overlap_ms'"):
        validate_spec(spec(listing, {"kind": "listing", "overlap_ms": 3}))  # sorted_audio's key
    with pytest.raises(ConfigError, match=r"render\[1\].name: 'forbidden' is not a name"):
        validate_spec(spec(listing, {"kind": "listing"}, {"kind": "listing", "name": "forbidden"}))
    with pytest.raises(ConfigError, match=r"render\[1\]: render names must be unique"):
        validate_spec(spec(listing, {"kind": "listing"}, {"kind": "listing"}))
    with pytest.raises(ConfigError, match=r"render\[0\].subset: no subset named 'other'"):
        validate_spec(spec(listing, {"kind": "listing", "subset": "other"}))


def test_a_kind_must_say_its_name_in_its_model() -> None:
    class Loose(RenderParams):
        pass

    class Other(RenderParams):
        kind: Literal["other"] = "other"

    for model in (Loose, Other):
        with pytest.raises(ConfigError, match='kind must be Literal\\["mine"\\]'):
            RenderKind(name="mine", params=model, handler="x:y")
    with pytest.raises(ConfigError, match="queue must be one of"):
        RenderKind(name="other", params=Other, handler="x:y", queue="gpu")


def test_a_kind_is_sent_to_its_own_queue(listing: Path) -> None:
    render = get_stage("render")
    job = validate_spec(spec(listing, {"kind": "listing", "name": "l"},
                             {"kind": "sorted_audio", "sort": "hz=asc"}))
    assert render.target_keys(job) == ["l", "sorted_audio-main"]
    queues = [render.queue_for(render.params_for(job, key)) for key in render.target_keys(job)]
    assert queues == ["cpu", "render"]


def test_a_test_kind_runs_through_real_workers(listing: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    job = tmp_path / "kinds.toml"
    job.write_text(f"""
name = "kinds"
[source]
kind = "local"
folder = "{listing}"
patterns = ["*.txt"]
[fake_analyze]
samples_per_file = 2
[[subset]]
name = "main"
[[render]]
kind = "listing"
name = "by-power"
sort = "power=desc"
[[render]]
kind = "listing"
name = "broken"
fail = true
""")
    from core.settings import get_settings

    outcome = run_job(job, get_settings(), console=Console(file=io.StringIO()))
    engine = catalog(get_settings())
    with session_scope(engine) as session:
        members = session.scalars(select(SubsetMember.sample_id)
                                  .order_by(SubsetMember.position)).all()
        artifact = session.scalar(select(Artifact).where(Artifact.name == "by-power"))
        broken = session.scalar(select(Target).where(Target.key == "broken"))
        broken_runs = session.scalars(select(TaskRun.status)
                                      .where(TaskRun.target_id == broken.id)).all()
    assert artifact is not None and artifact.kind == "listing"
    listed = [int(line) for line in Path(artifact.path).read_text().split()]
    assert sorted(listed) == sorted(members) and len(listed) == 12
    with session_scope(engine) as session:
        power = dict(session.execute(select(Sample.id, Sample.power)).all())
    assert [power[i] for i in listed] == sorted(power.values(), reverse=True)
    assert broken.status == TargetStatus.FAILED and "listing asked to fail" in broken.error
    assert broken_runs == [TargetStatus.FAILED], "a deterministic error is not retried"
    assert outcome.exit_code != 0

"""The picture stages' job tables: defaults filled in, bad values named by their key, and
which stages a job runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.stages import job_stages
from scheduler.jobspec import validate_spec
from worker.frames.params import FrameMapStageParams, LoopsParams


def _spec(**tables: object) -> dict:
    return {"name": "x", "source": {"kind": "local", "folder": "films"}, **tables}


def test_tables_validate_and_fill_defaults(tmp_path: Path) -> None:
    (tmp_path / "films").mkdir()
    out = validate_spec(_spec(loops={"min_length": 2.5}, frame_map=[{"name": "a"},
                                                                    {"name": "b", "rate": 2}]),
                        base=tmp_path)
    assert out["loops"]["min_length"] == 2.5 and out["loops"]["tolerance"] == 16
    assert [m["name"] for m in out["frame_map"]] == ["a", "b"]
    names = [s.name for s in job_stages(out)]
    # the picture needs probe (has_video) and frames first; no duplicates table, no stage
    assert names.index("probe") < names.index("frames") < names.index("loops")
    assert "frame_map" in names and "duplicates" not in names and "analyze" not in names
    assert LoopsParams(min_length=2.5).loop_params().min_length == 2.5


@pytest.mark.parametrize("tables,match", [
    ({"loops": {"tolerance": 500}}, r"loops\.tolerance"),
    ({"loops": {"tolerence": 5}}, r"did you mean 'tolerance'"),
    ({"frames": {"every": 0}}, r"frames\.every"),
    ({"frame_map": [{"name": "../up"}]}, r"frame_map\[0\]\.name"),
    ({"frame_map": [{"methods": ["pca"]}]}, r"frame_map\[0\]\.methods"),
    ({"frame_map": [{"picture": "tsne_rgb"}]}, r"frame_map\[0\]\.picture"),
    ({"duplicates": {"index_every": 0}}, r"duplicates\.index_every"),
])
def test_bad_values_name_their_key(tmp_path: Path, tables: dict, match: str) -> None:
    (tmp_path / "films").mkdir()
    with pytest.raises(ConfigError, match=match):
        validate_spec(_spec(**tables), base=tmp_path)


def test_frame_map_model_turns_into_pure_parameters() -> None:
    p = FrameMapStageParams(methods=["tsne"], spaces=["hsl"], rate=0.5).map_params()
    assert p.methods == ("tsne",) and p.spaces == ("hsl",) and p.rate == 0.5

"""The analyze task stores its job's subset candidates with the samples, and the subset stage's
stored members are those of the query on samples (embedded default, generated films)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from db.engine import session_scope
from db.models import File, Subset, SubsetCandidate
from db.subsets import (
    SubsetParams,
    candidate_key,
    candidates_cover,
    select_subset,
    subset_sample_ids,
)
from scheduler.demo import demo_film, write_mp4
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure

JOB = """
name = "candidates"
[source]
kind = "local"
folder = "{folder}"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "stored"
filter = "samples>0"
ffilter = "dur>=100"
fsort = "power=desc=0.75&clarity=desc"
flim = 6
lim = 15
[[subset]]
name = "adhoc"
fsort = "power=desc"
lim = 10
"""


def test_analyze_stores_candidates_and_subset_uses_them(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = tmp_path / "films"
    for i, style in enumerate(("melody", "percussion", "mix")):
        write_mp4(folder / f"{style}.mp4", demo_film(6.0, style, seed=i))
    job = tmp_path / "candidates.toml"
    job.write_text(JOB.format(folder=folder))
    outcome = run_job(job, settings, console=Console(file=io.StringIO()))
    assert outcome.exit_code == 0, outcome.failures
    engine = catalog(settings)
    stored_spec = SubsetParams(name="stored", filter="samples>0", ffilter="dur>=100",
                               fsort="power=desc=0.75&clarity=desc", flim=6, lim=15)  # fmt: skip
    adhoc_spec = SubsetParams(name="adhoc", fsort="power=desc", lim=10)
    key = candidate_key(stored_spec)
    assert key is not None and candidate_key(adhoc_spec) is None
    with session_scope(engine) as s:
        files = s.scalars(select(File).where(File.job_id == outcome.job_id)).all()
        assert len(files) == 3 and all((f.samples or 0) > 6 for f in files)
        markers = s.scalar(select(func.count()).select_from(SubsetCandidate).where(
            SubsetCandidate.spec_key == key, SubsetCandidate.sample_id == 0))
        assert markers == 3  # one per analysed file, written by the analyze task
        per_file = s.execute(select(SubsetCandidate.file_id, func.count()).where(
            SubsetCandidate.sample_id != 0).group_by(SubsetCandidate.file_id)).all()
        assert sorted(n for _, n in per_file) == [6, 6, 6]  # flim each, the only key stored
        assert candidates_cover(s, outcome.job_id, stored_spec)
        for name, spec in (("stored", stored_spec), ("adhoc", adhoc_spec)):
            subset = s.scalar(select(Subset).where(Subset.job_id == outcome.job_id,
                                                   Subset.name == name))  # fmt: skip
            assert subset is not None
            members = subset_sample_ids(s, subset.id)
            assert members == select_subset(s, outcome.job_id, spec, candidates=False)
            assert len(members) == (15 if name == "stored" else 10)

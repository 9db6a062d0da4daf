"""Probe and analyze through the queue on generated media, on the embedded default and on
Redis + PostgreSQL; then `samplemill query samples` lists what analysis stored."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import func, select

from core.settings import Settings
from db.engine import session_scope
from db.models import File, Sample, Target, TargetStatus
from scheduler.cli import main
from scheduler.demo import SR, demo_film, write_mp4
from scheduler.run import run_job
from tests.pipeline_harness import catalog, configure


def _collection(root: Path, films: int) -> Path:
    folder = root / "films"
    for i in range(films):
        write_mp4(folder / f"film{i}.mp4", demo_film(6.0, ("melody", "talk", "mix")[i % 3], i))
    write_mp4(folder / "no-audio.mp4", np.zeros(2 * SR, np.float32), with_audio=False)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    write_mp4(folder / "silence.mp4", np.zeros(3 * SR, np.float32))
    return folder


def _job(root: Path, folder: Path) -> Path:
    job = root / "analysis.toml"
    job.write_text(f'name = "analysis"\n[source]\nkind = "local"\nfolder = "{folder}"\n'
                   'patterns = ["*.mp4"]\n[probe]\n[analyze]\nmin_ms = 80\n')
    return job


def _run_and_check(settings: Settings, root: Path, films: int) -> int:
    folder = _collection(root, films)
    outcome = run_job(_job(root, folder), settings, console=Console(file=io.StringIO()))
    assert outcome.status == "partial" and outcome.exit_code == 3, "done, 1 failed"
    assert [(f.stage, f.file) for f in outcome.failures] == [("probe", "corrupt.mp4")]
    assert outcome.failures[0].attempts == 1, "a corrupt file is not retried"
    assert outcome.progress is not None
    analyze = next(s for s in outcome.progress.stages if s.stage == "analyze")
    assert (analyze.blocked, analyze.pending) == (1, 0), "its analysis is blocked, not pending"
    engine = catalog(settings)
    with session_scope(engine) as session:
        files = {f.key: f for f in session.scalars(select(File))}
        statuses = dict(session.execute(
            select(File.key, Target.status).join(Target, Target.file_id == File.id)
            .where(Target.stage == "analyze")).all())
        counts = dict(session.execute(
            select(File.key, func.count(Sample.id)).join(Sample, Sample.file_id == File.id)
            .group_by(File.key)).all())
    assert statuses["no-audio.mp4"] == TargetStatus.SKIPPED
    assert files["no-audio.mp4"].has_video and not files["no-audio.mp4"].has_audio
    assert statuses["silence.mp4"] == TargetStatus.DONE and "silence.mp4" not in counts
    assert files["silence.mp4"].samples == 0
    for i in range(films):
        key = f"film{i}.mp4"
        assert statuses[key] == TargetStatus.DONE
        assert abs((files[key].duration or 0) - 6.0) < 0.2
        assert counts[key] >= 5 and files[key].samples == counts[key]
        assert files[key].median_dur and 80 <= files[key].median_dur <= 1000
    return outcome.job_id


def _query_lists_samples(job_id: int) -> None:
    result = CliRunner().invoke(main, ["query", "samples", "--job", str(job_id), "--where",
                                       "dur>=80", "--format", "json", "--limit", "1000"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert rows and all(r["dur"] >= 80 for r in rows)


def test_probe_and_analyze_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path)
    job_id = _run_and_check(settings, tmp_path, films=3)
    _query_lists_samples(job_id)


@pytest.mark.redis
@pytest.mark.postgres
def test_probe_and_analyze_on_redis_and_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, postgres_url: str
) -> None:
    settings = configure(monkeypatch, tmp_path, catalog_url=postgres_url, broker_url=redis_url)
    job_id = _run_and_check(settings, tmp_path, films=3)
    _query_lists_samples(job_id)

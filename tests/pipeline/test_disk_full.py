"""A full disk in any stage waits for space: the target goes back to pending with its attempt
refunded (as a download's low disk does), while any other OS error is a failed attempt."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import session_scope
from db.models import Target, TargetStatus
from tests.pipeline.test_claiming import _ready_job
from tests.pipeline_harness import catalog, configure
from worker.context import TargetContext
from worker.tasks.runner import run_target


def _writes_to_a_full_disk(ctx: TargetContext, params: object) -> None:
    try:
        raise OSError(errno.ENOSPC, "No space left on device", "segments/00003.mp4")
    except OSError as exc:
        raise RuntimeError("could not write the segment") from exc


def _bad_path(ctx: TargetContext, params: object) -> None:
    raise OSError(errno.EACCES, "Permission denied", "segments/00003.mp4")


def test_a_full_disk_defers_and_other_os_errors_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(monkeypatch, tmp_path, retry_later_seconds=60)
    engine = catalog(settings)
    _, ids = _ready_job(settings, tmp_path, 2, "disk")

    assert run_target(ids[0], _writes_to_a_full_disk) == "deferred"
    assert run_target(ids[1], _bad_path) != "deferred"
    with session_scope(engine) as session:
        rows = {t.id: t for t in session.scalars(select(Target).where(Target.id.in_(ids)))}
        full, bad = rows[ids[0]], rows[ids[1]]
        assert full.status == TargetStatus.PENDING
        assert full.attempts == 0  # the attempt was refunded
        assert "disk full" in (full.error or "") and "No space left" in (full.error or "")
        assert bad.status in (TargetStatus.PENDING, TargetStatus.FAILED)
        assert bad.attempts == 1
        assert "Permission denied" in (bad.error or "")

"""Artifacts: the files a job leaves (renders, layout pictures), recorded with what made them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from db.models import Artifact


def record_artifact(
    session: Session,
    *,
    job_id: int,
    subset_id: int | None,
    kind: str,
    name: str,
    path: Path,
    params: dict[str, Any],
    duration: float | None,
) -> Artifact:
    """Insert or replace the artifact (job, kind, name): re-rendering never duplicates it."""
    session.execute(
        delete(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind,
                               Artifact.name == name)
    )
    artifact = Artifact(job_id=job_id, subset_id=subset_id, kind=kind, name=name,
                        path=str(path), params=params, duration=duration,
                        size=path.stat().st_size if path.exists() else None)
    session.add(artifact)
    session.flush()
    return artifact

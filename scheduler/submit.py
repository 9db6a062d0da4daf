"""Submitting jobs: store a validated spec, or find the unfinished job it resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from db import state
from db.engine import session_scope
from db.read import JobRecord, jobs_named
from scheduler.jobspec import load_spec, validate_spec


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def submit_spec(engine: Engine, spec: dict[str, Any], text: str = "") -> int:
    """Store a job (the spec is validated again) and return its id."""
    spec = validate_spec(spec)
    with session_scope(engine) as session:
        return state.create_job(session, name=spec["name"], spec=spec, text=text)


def submit_file(engine: Engine, path: Path) -> int:
    """Validate and store the job file at `path`."""
    spec, text = load_spec(path)
    return submit_spec(engine, spec, text)


def find_job(engine: Engine, spec: dict[str, Any]) -> JobRecord | None:
    """The newest job with this exact spec, if any (what `samplemill run` resumes)."""
    with session_scope(engine) as session:
        return next((job for job in jobs_named(session, spec["name"]) if _same(job.spec, spec)),
                    None)

"""What a stage's handler is given beside its parameters: the target it works on, with a way to
commit its results, and `Deferred` to hand the target back for later. Below the task modules,
so render kinds' handlers (worker/render/<kind>/handler.py) need not import the tasks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.settings import Settings
from db import state
from db.engine import session_scope
from db.models import File


class Deferred(Exception):
    """Hand the target back until `seconds` from now without spending an attempt
    (a server's Retry-After, a resource that is busy for a known time)."""

    def __init__(self, seconds: float, message: str) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass
class TargetContext:
    """What a stage handler gets beside its parameters: the target, its job spec and file,
    where its outputs go, and a way to commit."""

    engine: Engine
    settings: Settings
    target_id: int
    stage: str
    key: str
    job_id: int
    spec: dict[str, Any]
    file: File | None
    attempt: int
    run_token: str
    committed: bool = field(default=False)

    def output_path(self, filename: str) -> Path:
        """`<data>/output/job-N/<filename>`, its folder created."""
        folder = self.settings.job_output_dir(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename

    @contextmanager
    def commit(self) -> Iterator[Session]:
        """A transaction that writes the results and marks the target done, or neither."""
        with session_scope(self.engine) as session:
            state.complete(session, self.target_id, self.run_token)
            yield session
        self.committed = True

"""Resumable progress of a running target (`checkpoints`): load, save with the results it
describes, clear when done. Only the run that owns the target may write it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import Checkpoint, Target, TargetStatus, utcnow


def load_checkpoint(session: Session, target_id: int) -> dict[str, Any] | None:
    """The target's saved progress, or None when it has none."""
    return session.scalar(select(Checkpoint.data).where(Checkpoint.target_id == target_id))


def save_checkpoint(
    session: Session, target_id: int, run_token: str, data: dict[str, Any]
) -> bool:
    """Store `data` as the target's progress in the caller's transaction; False (nothing
    written) when the target is no longer running under `run_token` (its lease was lost)."""
    owner = session.scalar(
        select(Target.id).where(
            Target.id == target_id,
            Target.run_token == run_token,
            Target.status == TargetStatus.RUNNING,
        )
    )
    if owner is None:
        return False
    row = session.get(Checkpoint, target_id)
    if row is None:
        session.add(Checkpoint(target_id=target_id, data=data, updated_at=utcnow()))
    else:
        row.data = data
        row.updated_at = utcnow()
    return True


def clear_checkpoint(session: Session, target_id: int) -> None:
    """Forget the target's progress (it is done, or must start over)."""
    session.execute(delete(Checkpoint).where(Checkpoint.target_id == target_id))

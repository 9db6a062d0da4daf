"""Thin Celery tasks, one module per stage: load inputs, call plain functions, record results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

TargetIds: TypeAlias = int | Sequence[int]
"""What a task's message carries: one target id, or the list of a batch of a stage's tiny
targets (`scheduler.loop.task_args`); every task hands it as-is to `runner.run_target`."""

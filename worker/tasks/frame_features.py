"""Task `samplemill.frame_features`: one film's per-frame sound features, stored beside the
catalog (worker/render/resynth/store.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.app import app
from worker.render.resynth.store import SourceFile, ensure_features
from worker.tasks import TargetIds
from worker.tasks.runner import TargetContext, run_target


@app.task(name="samplemill.frame_features")
def frame_features(target_id: TargetIds) -> str:
    return run_target(target_id, handle)


def handle(ctx: TargetContext, params: Any) -> None:
    assert ctx.file is not None and ctx.file.path
    ensure_features(ctx.settings.data_dir, SourceFile(ctx.file.id, Path(ctx.file.path)))

"""The sorted-audio render of a subset: its members in the job's order, overlapped into one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from db.engine import session_scope
from db.layouts import MemberClip, record_artifact, subset_clips, subset_row
from worker.layout.ranking import rank
from worker.tasks.runner import TargetContext


def sorted_clips(clips: list[MemberClip], sort: str, limit: int | None) -> list[MemberClip]:
    """Members ordered by `sort` (e.g. tsne=asc, hz=asc, power=desc), cut to `limit`."""
    names = {k for c in clips for k in c.values}
    features = {
        k: np.array([np.nan if c.values.get(k) is None else c.values[k] for c in clips], float)
        for k in names
    }
    order = rank(features, sort, len(clips), what="render sort") if clips else []
    picked = [clips[i] for i in order]
    return picked[:limit] if limit else picked


def output_path(data_dir: Path, job_id: int, name: str, fmt: str) -> Path:
    return data_dir / "output" / f"job-{job_id}" / f"{name}.{fmt}"


def render_params(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    from worker.render.sorted_audio import SortedAudioParams

    return SortedAudioParams(overlap_ms=spec["overlap_ms"], fade_ms=spec["fade_ms"],
                             pad_before_ms=spec["pad_before_ms"],
                             pad_after_ms=spec["pad_after_ms"], match_db=spec.get("match_db"),
                             volume=spec["volume"], on_error="silence")


def render_sorted_audio_target(ctx: TargetContext, spec: dict[str, Any]) -> None:
    from worker.render.sorted_audio import Clip, render_sorted_audio

    with session_scope(ctx.engine) as session:
        subset_id = subset_row(session, ctx.job_id, spec["subset"]).id
        clips = sorted_clips(subset_clips(session, ctx.job_id, spec["subset"]), spec["sort"],
                             spec.get("limit"))
    out = output_path(ctx.settings.data_dir, ctx.job_id, ctx.key, spec["format"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    result = render_sorted_audio([Clip(Path(c.path), c.start, c.dur) for c in clips], tmp,
                                 render_params(spec))
    tmp.replace(out)
    with ctx.commit() as session:
        record_artifact(session, job_id=ctx.job_id, subset_id=subset_id, kind="sorted_audio",
                        name=ctx.key, path=out, duration=result.duration_s,
                        params={**spec, "clips": len(clips),
                                "failed_clips": [clips[i].sample_id for i in result.failed]})

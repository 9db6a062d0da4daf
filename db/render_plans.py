"""Planned renders: what a grid video's planning target recorded (its plan folder, how many
chunks, which file each clip-cache source is), and the part targets derived from it.

The plan is an artifact of kind `render_plan` (its path is the plan's plan.json), so it needs
no table of its own and is replaced when the render is planned again. The part stages of a
render (clip cache per source file, chunks and the mix, the join) take their target keys from
it: `<render name>/cache-<i>`, `<render name>/chunk-<nnnnn>`, `<render name>/mix`,
`<render name>/join` (core.stages.part_key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.stages import part_key
from db.artifacts import record_artifact
from db.models import Artifact

PLAN_KIND = "render_plan"


@dataclass(frozen=True)
class PlanRecord:
    """One planned render: its name, plan folder, chunk count, and the clip-cache sources its
    clips use as (source index, file id)."""

    name: str
    folder: Path
    chunks: int
    sources: list[tuple[int, int | None]]
    info: dict[str, Any]  # what else the planning target recorded


def record_plan(session: Session, *, job_id: int, subset_id: int | None, name: str,
                folder: Path, chunks: int, sources: Sequence[tuple[int, int | None]],
                info: dict[str, Any] | None = None) -> None:
    """Record (or replace) the plan of render `name` (inside the planning target's commit)."""
    record_artifact(session, job_id=job_id, subset_id=subset_id, kind=PLAN_KIND, name=name,
                    path=Path(folder) / "plan.json", duration=None,
                    params={"folder": str(folder), "chunks": int(chunks),
                            "sources": [[int(i), None if f is None else int(f)]
                                        for i, f in sources],
                            **(info or {})})


def plans(session: Session, job_id: int) -> list[PlanRecord]:
    """Every planned render of a job, by name."""
    rows = session.execute(select(Artifact.name, Artifact.params).where(
        Artifact.job_id == job_id, Artifact.kind == PLAN_KIND).order_by(Artifact.name)).all()
    return [PlanRecord(name, Path(p["folder"]), int(p["chunks"]),
                       [(int(i), f) for i, f in p["sources"]], dict(p))
            for name, p in rows]


def plan_of(session: Session, job_id: int, name: str) -> PlanRecord | None:
    """The plan of one render, or None when it has not been planned."""
    return next((p for p in plans(session, job_id) if p.name == name), None)


def chunk_part(i: int) -> str:
    """The part name of chunk i."""
    return f"chunk-{i:05d}"


def cache_keys(session: Session, job_id: int, spec: dict) -> list[tuple[str, int | None]]:
    """One clip-cache target per source file of each planned render."""
    return [(part_key(p.name, f"cache-{i}"), file_id)
            for p in plans(session, job_id) for i, file_id in p.sources]


def chunk_keys(session: Session, job_id: int, spec: dict) -> list[tuple[str, int | None]]:
    """One target per chunk of each planned render, and one for its mix."""
    out: list[tuple[str, int | None]] = []
    for p in plans(session, job_id):
        out += [(part_key(p.name, chunk_part(i)), None) for i in range(p.chunks)]
        out.append((part_key(p.name, "mix"), None))
    return out


def join_keys(session: Session, job_id: int, spec: dict) -> list[tuple[str, int | None]]:
    """One join target per planned render."""
    return [(part_key(p.name, "join"), None) for p in plans(session, job_id)]


@dataclass(frozen=True)
class RenderProgress:
    """How far one planned render's parts are: cache sources, chunks, mix and join."""

    name: str
    kind: str
    cache_done: int
    cache_total: int
    chunks_done: int
    chunks_total: int
    mix_done: bool
    joined: bool

    def line(self) -> str:
        """`render rings: chunks 7/12, cache 3/3, mix done` (what `run` and `status` print)."""
        parts = [f"chunks {self.chunks_done}/{self.chunks_total}",
                 f"cache {self.cache_done}/{self.cache_total}",
                 "mix done" if self.mix_done else "mix to do"]
        if self.joined:
            parts.append("joined")
        return f"render {self.name}: " + ", ".join(parts)


PART_STAGES = ("render_cache", "render_chunk", "render_join")


def render_progress(session: Session, job_id: int) -> list[RenderProgress]:
    """Each planned render's done parts against its plan (two queries)."""
    from db.models import Target, TargetStatus

    records = plans(session, job_id)
    if not records:
        return []
    done = session.execute(select(Target.stage, Target.key).where(
        Target.job_id == job_id, Target.stage.in_(PART_STAGES),
        Target.status == TargetStatus.DONE)).all()
    finished = {(stage, key) for stage, key in done}
    out = []
    for p in records:
        chunks = sum(("render_chunk", part_key(p.name, chunk_part(i))) in finished
                     for i in range(p.chunks))
        cache = sum(("render_cache", part_key(p.name, f"cache-{i}")) in finished
                    for i, _ in p.sources)
        out.append(RenderProgress(
            p.name, str(p.info.get("kind", "")), cache, len(p.sources), chunks, p.chunks,
            ("render_chunk", part_key(p.name, "mix")) in finished,
            ("render_join", part_key(p.name, "join")) in finished))
    return out

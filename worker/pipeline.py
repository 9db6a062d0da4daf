"""The built-in pipeline: each stage's place, queue, parameter model (its job-spec table),
targets and submit-time checks. Declarations only.

source → download (archive.org files) | checksum (local files) → probe → analyze
→ subset → layout → vsamples (grid videos) → render → render_cache → render_chunk →
render_join (a grid video's parts, keyed by its recorded plan). Each stage's parameter model
lives beside its code
(worker/<area>/params.py, db/subsets.py, worker/render/<kind>/params.py); its task in
worker/tasks/<stage>.py.
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError, QueryError
from core.render_kinds import RenderParams, get_kind, known_kinds
from core.stages import Stage, register
from db.layouts import vsample_files
from db.query import compile_predicate
from db.render_plans import cache_keys, chunk_keys, join_keys
from db.subsets import SubsetParams
from worker.analysis.params import AnalyzeParams, ProbeParams
from worker.frames.stages import PICTURE_TABLES
from worker.frames.stages import STAGES as FRAME_STAGES
from worker.layout.params import LayoutParams
from worker.render.resynth.stages import STAGES as RESYNTH_STAGES
from worker.sources.params import SOURCES, ChecksumParams, DownloadParams, check_source
from worker.vsamples.params import VsamplesParams

# --- which stages a job runs, and the checks that need the whole spec ----------------------


def _source_kind(spec: dict[str, Any]) -> str:
    return str(spec.get("source", {}).get("kind", ""))


def _has(*tables: str):  # type: ignore[no-untyped-def]
    return lambda spec: any(t in spec for t in tables)


def _check_sample_filter(params: AnalyzeParams, spec: dict[str, Any]) -> None:
    """The pre-store filter must be a valid sample filter."""
    try:
        compile_predicate(params.filter, "samples")
    except QueryError as exc:
        raise ConfigError(f"filter: {exc}") from None


def _subset_exists(subset: str, spec: dict[str, Any]) -> None:
    names = [entry.get("name") for entry in spec.get("subset", [])]
    if subset not in names:
        raise ConfigError(
            f"subset: no subset named {subset!r}; defined: {', '.join(names) or '(none)'}"
        )


def _check_layout(params: LayoutParams, spec: dict[str, Any]) -> None:
    _subset_exists(params.subset, spec)


def _check_render(params: RenderParams, spec: dict[str, Any]) -> None:
    """A render names a defined subset, and passes its kind's own check."""
    _subset_exists(params.subset, spec)
    kind = get_kind(params.kind)
    if kind.check is not None:
        kind.check(params, spec)


def grid_subsets(spec: dict[str, Any]) -> list[str]:
    """The subsets shown by the job's grid video renders (kinds of worker.render.gridkind)."""
    from worker.render.gridkind import grid_kind_names

    kinds = set(grid_kind_names())
    return sorted({str(r.get("subset", "main")) for r in spec.get("render", [])
                   if r.get("kind") in kinds})


def _has_grid_render(spec: dict[str, Any]) -> bool:
    return bool(grid_subsets(spec))


def _vsample_keys(session: Any, job_id: int, spec: dict[str, Any]) -> list[tuple[str, int]]:
    """One vsamples target per file holding a grid member of a grid video's subset."""
    return [(str(f), f) for f in vsample_files(session, job_id, grid_subsets(spec))]


def _render_queue(params: RenderParams) -> str:
    return get_kind(params.kind).queue


STAGES = [
    Stage(name="source", queue="io", scope="job", order=0, task_name="samplemill.source",
          table="source", required=True, variants=lambda: SOURCES, check=check_source,
          description="list a local folder or scrape archive.org into items and files"),
    Stage(name="download", queue="io", scope="file", order=10, task_name="samplemill.download",
          params=DownloadParams, table="download",
          enabled=lambda spec: _source_kind(spec) == "internet_archive",
          applies_to=lambda f: f.url.is_not(None),
          description="fetch a remote file, resumable and checksum-verified"),
    Stage(name="checksum", queue="io", scope="file", order=11, task_name="samplemill.checksum",
          params=ChecksumParams, table="checksum",
          enabled=lambda spec: _source_kind(spec) == "local",
          applies_to=lambda f: f.url.is_(None),
          description="size and md5 of a local file, catalogued in place"),
    Stage(name="probe", queue="cpu", scope="file", order=20, task_name="samplemill.probe",
          params=ProbeParams, table="probe", enabled=_has("probe", "analyze", *PICTURE_TABLES),
          description="duration, audio and video tracks"),
    Stage(name="analyze", queue="cpu", scope="file", order=30, task_name="samplemill.analyze",
          params=AnalyzeParams, table="analyze", enabled=_has("analyze"),
          check=_check_sample_filter, skip_when=lambda f: f.has_audio.is_not(True),
          description="onset-cut samples with features, per-file statistics"),
    Stage(name="subset", queue="cpu", scope="job", order=40, task_name="samplemill.subset",
          params=SubsetParams, table="subset", many=True, key_field="name",
          enabled=_has("subset"), description="a stored selection of samples"),
    Stage(name="layout", queue="cpu", scope="job", order=50, task_name="samplemill.layout",
          params=LayoutParams, table="layout", many=True, key_field="subset",
          enabled=_has("layout"), check=_check_layout, description="t-SNE order and map, grid"),
    Stage(name="vsamples", queue="cpu", scope="job", order=52, task_name="samplemill.vsamples",
          params=VsamplesParams, table="vsamples", enabled=_has_grid_render,
          derived_keys=_vsample_keys,
          description="each grid member's span of picture, one pass per source file"),
    Stage(name="render", queue="render", scope="job", order=60, task_name="samplemill.render",
          table="render", many=True, variants=lambda: [k.params for k in known_kinds()],
          key_field="resolved_name", enabled=_has("render"), check=_check_render,
          queue_of=_render_queue,
          description="compositions from a subset, one per [[render]] (see the render kinds); "
                      "a grid video's target plans it"),
    Stage(name="render_cache", queue="cpu", scope="job", order=61,
          task_name="samplemill.render_cache", part_of="render", derived_keys=cache_keys,
          enabled=_has_grid_render,
          description="a planned grid video's clip cache, one target per source file"),
    Stage(name="render_chunk", queue="render", scope="job", order=62,
          task_name="samplemill.render_chunk", part_of="render", derived_keys=chunk_keys,
          queue_of=_render_queue, enabled=_has_grid_render,
          description="a planned grid video's frame-range chunks (one target each) and mix"),
    Stage(name="render_join", queue="render", scope="job", order=63,
          task_name="samplemill.render_join", part_of="render", derived_keys=join_keys,
          queue_of=_render_queue, enabled=_has_grid_render,
          description="a grid video's segments and mix into its mp4 and contact sheet"),
]

STAGES += RESYNTH_STAGES  # frame_features and frame_index, for resynth renders
STAGES += FRAME_STAGES  # frames, loops, duplicates, frame_map: the picture

for _stage in STAGES:
    register(_stage)

TASK_MODULES = tuple(f"worker.tasks.{s.name}" for s in STAGES)

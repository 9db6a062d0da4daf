"""The two stages resynth renders wait for: per-file frame features, then an index per subset.

`frame_features` (cpu, one target per film with picture and sound) stores each film's array
beside the catalog; `frame_index` (cpu, one target per subset and backend that a resynth render
uses) builds the index once, for every resynth render of that subset to reuse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_

from core.stages import Stage


def _resynths(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in spec.get("render", []) if r.get("kind") == "resynth"]


def index_key(subset: str, backend: str) -> str:
    """The frame_index target key of a subset and a backend."""
    return f"{subset}:{backend}"


def _index_keys(spec: dict[str, Any]) -> list[str]:
    return sorted({index_key(r.get("subset", "main"), r.get("index", "faiss-ivf"))
                   for r in _resynths(spec)})


STAGES = [
    Stage(name="frame_features", queue="cpu", scope="file", order=35,
          task_name="samplemill.frame_features", enabled=lambda spec: bool(_resynths(spec)),
          skip_when=lambda f: or_(f.has_video.is_not(True), f.has_audio.is_not(True)),
          description="log-mel features of each video frame's sound, stored per file"),
    Stage(name="frame_index", queue="cpu", scope="job", order=55,
          task_name="samplemill.frame_index", enabled=lambda spec: bool(_resynths(spec)),
          keys=_index_keys, description="a nearest-neighbour index over a subset's frames"),
]

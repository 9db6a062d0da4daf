"""The layout stage's parameters: the job's [[layout]] table, validated at submit and handed to
the layout code as it is."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from core.stages import StageParams
from worker.layout.ranking import check_sort

GRID = re.compile(r"^(\d{1,4})x(\d{1,4})$")
FEATURES = ("power", "hz", "clarity", "dur", "midi")
"""The per-sample values a layout loads beside the vectors (what `grid_sort` may name)."""


def parse_grid(text: str) -> tuple[int, int] | None:
    """'128x64' as (128, 64); '' as None; a ValueError for anything else."""
    if not text:
        return None
    match = GRID.match(text)
    if match is None or 0 in (w := int(match[1]), h := int(match[2])):
        raise ValueError(f"grid must look like 128x128, not {text!r}")
    return w, h


class LayoutParams(StageParams):
    """t-SNE (or UMAP) order and map of a subset, then its grid."""

    subset: str = Field("main", description="The [[subset]] laid out.")
    method: Literal["tsne", "umap"] = "tsne"
    perplexity: float = Field(30.0, gt=0)
    learning_rate: float | Literal["auto"] = "auto"
    iterations: int = Field(750, ge=50)
    seed: int = 0
    threads: int = Field(2, ge=1)
    grid: str = Field("", description="WxH, e.g. 128x128; empty for no grid.")
    grid_method: Literal["assignment", "rasterfairy"] = "assignment"
    grid_sort: str = Field(
        "power=desc", description="Sort applied when there are more samples than cells."
    )

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: str) -> str:
        parse_grid(value)
        return value

    @field_validator("grid_sort")
    @classmethod
    def _grid_sort(cls, value: str) -> str:
        check_sort(value, FEATURES)
        return value

    @property
    def grid_size(self) -> tuple[int, int] | None:
        """(width, height) of the grid, None without one."""
        return parse_grid(self.grid)

"""The `poster` render's parameters: the reference's flags, with its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.errors import ConfigError
from worker.render.gridkind.params import BRIGHTNESS, GridParams, check_pair

MAX_SIDE = 8192


class PosterParams(GridParams):
    """One still of the flow swirl, zoomed in, with a title drawn on top (PNG)."""

    kind: Literal["poster"] = "poster"
    grid: int = Field(128, ge=2, le=1024, description="Grid side: the central grid×grid cells "
                      "of the layout.")
    grid1: int = Field(32, ge=1, le=1024, description="Grid side in view (zoomed in "
                       "grid/grid1 times).")
    radius: float = Field(8.0, ge=0, description="Circle radius of the frozen swirl, × clip "
                          "height.")
    freq: float = Field(2.4, description="How many times the diagonal wave wraps the grid.")
    rotation: float = Field(0.6, ge=0, le=1, description="Where in its turn the swirl is "
                            "frozen (0..1).")
    bright: bool = Field(False, description="Full brightness; otherwise the centre is "
                         "darkened (brightness[0] at the centre to brightness[1] at the edges).")
    brightness: tuple[float, float] = Field(BRIGHTNESS, description="Centre and edge "
                                            "brightness.")
    title: str = Field("# samplemill", max_length=2000, description="Text drawn on top, one "
                       "line per line: '# ' a title, '## ' a subtitle, other lines body text.")
    text_color: tuple[int, int, int] = Field((255, 255, 255), description="RGB of the text.")
    text_y: float = Field(0.0, ge=-0.5, le=0.5, description="Vertical offset of the text "
                          "block from the centre, × frame height.")
    print_dpi: int | None = Field(None, ge=72, le=1200, description="Render for print at this "
                                  "many dots per inch (print_width_in wide, the frame's "
                                  "aspect) instead of width×height; written into the PNG.")
    print_width_in: float = Field(24.0, gt=0, le=60, description="Print width in inches.")

    @model_validator(mode="after")
    def _ranges(self) -> PosterParams:
        if self.grid1 > self.grid:
            raise ConfigError(f"grid1 must not exceed grid ({self.grid})")
        check_pair("brightness", self.brightness, "centre", "edge")
        if any(not 0 <= c <= 255 for c in self.text_color):
            raise ConfigError("text_color must be three values in 0..255")
        w, h = self.size()
        if max(w, h) > MAX_SIDE:
            raise ConfigError(f"print_dpi × print_width_in gives {w}x{h} px; at most "
                              f"{MAX_SIDE} a side")
        return self

    def size(self) -> tuple[int, int]:
        """The poster's pixel size: width×height, or the print size when print_dpi is set
        (even sides, the frame's aspect)."""
        if self.print_dpi is None:
            return self.width, self.height
        w = 2 * round(self.print_width_in * self.print_dpi / 2)
        return w, 2 * round(w * self.height / self.width / 2)

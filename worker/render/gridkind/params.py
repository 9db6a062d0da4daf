"""Parameters the grid video kinds share, each declared once, so a bound or a default cannot
drift between kinds.

A kind subclasses the narrowest model holding what it has, and declares only its own fields
(grid sides, motion, `volume`, `seed`, ...); it may redeclare a shared field to give it its own
wording or default:

- `GridParams`: how a clip is drawn (every grid kind; `poster` is a still, no sound).
- `GridClipParams`: + the mix around the sounding clips (`stretch`, `splice`, `flow`).
- `TimedClipParams`: + how long a played clip animates (`shuffle`).
- `CappedClipParams`: + a cap on each clip's RMS (`falling`, `orbits`, `waves`,
  `proliferation`).

A shared field sits before the kind's own in `model_fields` (and in `model_dump()`); nothing
reads them in order (the job spec's and the CLI's keys are looked up by name, stored specs are
compared with sorted keys), and the plan digests hash values, not models.
"""

from __future__ import annotations

from pydantic import Field

from core.errors import ConfigError
from worker.render.output import VideoRenderParams

BRIGHTNESS = (0.33, 1.0)
"""The default (resting, flash) brightness; a kind that words `brightness` its own way
redeclares the field with this default."""


class GridParams(VideoRenderParams):
    """What every grid kind draws with: the gap between clips and their brightness."""

    margin: float = Field(0.0667, ge=0, lt=1, description="Gap between clips, × cell width.")
    brightness: tuple[float, float] = Field(BRIGHTNESS, description="Resting and flash "
                                            "brightness.")


class GridClipParams(GridParams):
    """A grid kind whose clips sound: their reverb and the silence before and after the mix."""

    reverb: float = Field(80.0, ge=0, le=100)
    pad_before_ms: float = Field(1000.0, ge=0)
    pad_after_ms: float = Field(3000.0, ge=0)


class TimedClipParams(GridClipParams):
    """A grid kind whose played clips animate for a random length each."""

    min_clip_ms: float = Field(1200.0, ge=0, description="A clip animates at least this long "
                               "(plus a random 0..extra_clip_ms).")
    extra_clip_ms: float = Field(500.0, ge=0)


class CappedClipParams(TimedClipParams):
    """A grid kind that plays its clips at their own level, each capped."""

    max_db: float | None = Field(-16.0, le=0, description="Cap each clip's RMS (dBFS).")


def check_pair(key: str, pair: tuple[float, float], low: str, high: str,
               top: float | None = None) -> None:
    """Raise `<key> must be (<low>, <high>) with 0 ≤ <low> ≤ <high>[ ≤ top]` unless the pair
    is ordered that way (a kind names the ends of its brightness and volume its own way)."""
    a, b = pair
    if not 0 <= a <= b or (top is not None and b > top):
        bound = "" if top is None else f" ≤ {top:g}"
        raise ConfigError(f"{key} must be ({low}, {high}) with 0 ≤ {low} ≤ {high}{bound}")

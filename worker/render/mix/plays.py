"""Plays: every time a composition sounds a clip, as one struct of arrays the mix reads."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from core.errors import ConfigError

STRETCH_METHODS = ("rubberband", "paulstretch")  # stretch_method holds the index


@dataclass(frozen=True)
class Plays:
    """One row per play. NaN in match_db / max_db means "leave the level alone"."""

    clip: np.ndarray  # int64: which clip (its audio span comes from the composition)
    t_ms: np.ndarray  # when it starts in the output
    volume: np.ndarray  # linear amplitude factor (0.5 is -6.02 dB)
    pan: np.ndarray  # -1 left .. +1 right, equal-power
    fade_in_ms: np.ndarray
    fade_out_ms: np.ndarray
    reverb: np.ndarray  # 0 (dry) .. 100 (reverberance, as the reference's sox)
    stretch: np.ndarray  # time-stretch factor, 1 = as recorded, 2 = twice as long
    match_db: np.ndarray  # set the clip's RMS to this many dBFS first
    max_db: np.ndarray  # then lower it (never raise) to at most this RMS
    reverse: np.ndarray  # bool
    stretch_method: np.ndarray = 0  # int64 index into STRETCH_METHODS (names accepted)
    length_ms: np.ndarray = np.nan  # play only the first this many ms of the clip (NaN: all)

    def __post_init__(self) -> None:
        """Coerce to arrays of one length and reject values the mix cannot honour."""
        n = np.asarray(self.clip).size
        object.__setattr__(self, "stretch_method", stretch_codes(self.stretch_method))
        for f in fields(self):
            dtype = {"clip": np.int64, "reverse": bool, "stretch_method": np.int64}.get(
                f.name, np.float64)
            a = np.broadcast_to(np.asarray(getattr(self, f.name), dtype=dtype), (n,)).copy()
            object.__setattr__(self, f.name, a)
        if n and (self.volume.min() < 0 or np.abs(self.pan).max() > 1 or self.stretch.min() <= 0
                  or self.fade_in_ms.min() < 0 or self.fade_out_ms.min() < 0
                  or self.reverb.min() < 0 or self.reverb.max() > 100):
            raise ConfigError("plays need volume ≥ 0, pan in [-1, 1], stretch > 0, fades ≥ 0 "
                              "and reverb in [0, 100]")
        if n and (self.stretch_method.min() < 0
                  or self.stretch_method.max() >= len(STRETCH_METHODS)):
            raise ConfigError(f"stretch_method must be one of {', '.join(STRETCH_METHODS)}")
        if n and not np.isfinite(self.t_ms).all():
            raise ConfigError("play times must be finite")
        if n and (self.length_ms <= 0).any():
            raise ConfigError("a play's length_ms must be positive (NaN: the whole sound)")

    @classmethod
    def make(cls, clip, t_ms, *, volume=1.0, pan=0.0, fade_in_ms=0.0, fade_out_ms=0.0,
             reverb=0.0, stretch=1.0, match_db=np.nan, max_db=np.nan, reverse=False,
             stretch_method="rubberband", length_ms=np.nan) -> Plays:
        """Plays with defaults for every column not given (scalars broadcast)."""
        return cls(clip, t_ms, volume, pan, fade_in_ms, fade_out_ms, reverb, stretch, match_db,
                   max_db, reverse, stretch_method, length_ms)

    def __len__(self) -> int:
        return int(self.clip.size)

    def arrays(self) -> dict[str, np.ndarray]:
        """The columns by name, for an npz."""
        return {f"plays.{f.name}": getattr(self, f.name) for f in fields(self)}

    def method(self, i: int) -> str:
        """The stretch method of play i, by name."""
        return STRETCH_METHODS[int(self.stretch_method[i])]

    @classmethod
    def from_arrays(cls, d) -> Plays:
        """Rebuild plays saved by `arrays` (plans saved before stretch_method: Rubber Band)."""
        return cls(**{f.name: d[f"plays.{f.name}"] for f in fields(cls)
                      if f"plays.{f.name}" in d})

    def select(self, mask: np.ndarray) -> Plays:
        """The plays where mask is true."""
        return Plays(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[Plays]) -> Plays:
        """All plays of several lists, in order."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})


def stretch_codes(methods) -> np.ndarray:
    """Stretch methods as indices into STRETCH_METHODS: names or indices, scalar or array."""
    a = np.asarray(methods)
    if a.dtype.kind in "USO":
        try:
            return np.vectorize(STRETCH_METHODS.index, otypes=[np.int64])(a) if a.size else \
                np.zeros(a.shape, np.int64)
        except ValueError:
            raise ConfigError(f"stretch_method must be one of {', '.join(STRETCH_METHODS)}, "
                              f"got {sorted(set(a.ravel().tolist()) - set(STRETCH_METHODS))}"
                              ) from None
    return a.astype(np.int64)

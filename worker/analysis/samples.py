"""SampleTable: the per-file result, column arrays in time order, cheap to bulk-insert."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VECTOR_DIM = 39


@dataclass
class SampleTable:
    """One row per sample, columns as arrays (see worker.analysis.features for meanings)."""

    start: np.ndarray  # ms from the start of the audio, float64
    dur: np.ndarray  # ms, float64
    power: np.ndarray  # dBFS, float32
    hz: np.ndarray  # Hz, 0.0 when unpitched, float32
    midi: np.ndarray  # fractional MIDI number, 0.0 when unpitched, float32
    clarity: np.ndarray  # 0..1, float32
    octave: np.ndarray  # int16, -1 when unpitched
    note: list[str] = field(default_factory=list)  # ASCII like "C#4", "-" when unpitched
    vector: np.ndarray = field(default_factory=lambda: np.zeros((0, VECTOR_DIM), np.float32))

    def __len__(self) -> int:
        return int(self.start.size)

    _SCALARS = ("start", "dur", "power", "hz", "midi", "clarity", "octave")

    def rows(self) -> list[dict]:
        """Return one dict per sample with the scalar columns (Python floats/ints/str)."""
        cols = {k: getattr(self, k).tolist() for k in self._SCALARS}
        return [{**{k: cols[k][i] for k in self._SCALARS}, "note": self.note[i]}
                for i in range(len(self))]

    @classmethod
    def empty(cls) -> SampleTable:
        """Return a table with no rows and the right dtypes."""
        f32 = np.zeros(0, np.float32)
        return cls(start=np.zeros(0), dur=np.zeros(0), power=f32, hz=f32.copy(),
                   midi=f32.copy(), clarity=f32.copy(), octave=np.zeros(0, np.int16),
                   note=[], vector=np.zeros((0, VECTOR_DIM), np.float32))

    @classmethod
    def concat(cls, tables: list[SampleTable]) -> SampleTable:
        """Concatenate tables (already in time order) into one."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty()
        if len(tables) == 1:
            return tables[0]
        cat = {k: np.concatenate([getattr(t, k) for t in tables]) for k in cls._SCALARS}
        return cls(**cat, note=[n for t in tables for n in t.note],
                   vector=np.concatenate([t.vector for t in tables]))

    def select(self, mask: np.ndarray) -> SampleTable:
        """Return the rows where a boolean mask is true (or at integer indices), in order."""
        idx = np.asarray(mask)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        return SampleTable(**{k: getattr(self, k)[idx] for k in self._SCALARS},
                           note=[self.note[i] for i in idx.tolist()], vector=self.vector[idx])

    def head(self, n: int) -> SampleTable:
        """Return the first n rows."""
        return SampleTable(**{k: getattr(self, k)[:n] for k in self._SCALARS},
                           note=self.note[:n], vector=self.vector[:n])

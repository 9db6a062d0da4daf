"""Pitch in note names for people: tick positions and labels for axes and colour bars that show
pitch, so plots speak the catalog's language (C#4) rather than log2 Hz."""

from __future__ import annotations

import math

from worker.analysis.features import NOTE_NAMES

A4_HZ, A4_MIDI = 440.0, 69


def midi_hz(midi: float) -> float:
    """The frequency of a (fractional) MIDI number."""
    return A4_HZ * 2.0 ** ((midi - A4_MIDI) / 12.0)


def note_name(midi: int) -> str:
    """'C4' for 60."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def note_ticks(lo_hz: float, hi_hz: float, *, most: int = 9) -> tuple[list[float], list[str]]:
    """Frequencies and names of notes between lo_hz and hi_hz for an axis: every C, or every
    second C when that gives too many, or every E/G/C when the range is under an octave or two."""
    if not (lo_hz > 0 and hi_hz > lo_hz):
        return [], []
    lo = math.ceil(12 * math.log2(lo_hz / A4_HZ) + A4_MIDI)
    hi = math.floor(12 * math.log2(hi_hz / A4_HZ) + A4_MIDI)
    for step, offsets in ((12, (0,)), (24, (0,)), (12, (0, 4, 7)), (1, tuple(range(12)))):
        notes = [m for m in range(lo, hi + 1)
                 if (m % 12) in offsets and (step != 24 or m % 24 == 0)]
        if 2 <= len(notes) <= most or step == 1:
            notes = notes[:: max(1, math.ceil(len(notes) / most))]
            return [midi_hz(m) for m in notes], [note_name(m) for m in notes]
    return [], []

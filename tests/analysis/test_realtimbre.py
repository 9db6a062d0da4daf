"""Onsets and pitch on real instrument timbres (FluidSynth + a General MIDI soundfont).

Phrases never used for tuning (seed 300+) of the twelve instruments of issue 11, 7 s each,
rotating through dry / room / hall / noise floor and wav / AAC / MP3 / Opus. Skips, naming the
Debian package, when fluidsynth or fluid-soundfont-gm is missing; fails instead under
SAMPLEMILL_REQUIRE_SERVICES=1 (CI installs both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.analysis import realtimbre as R
from tests.analysis.onset_scoring import Score, score
from worker.analysis import AnalysisParams, analyze_file

SEEDS = (300, 301)
SECONDS = 7.0
STRUCK = ("piano", "vibraphone", "marimba", "nylon_guitar", "finger_bass", "pizzicato")


@pytest.fixture(scope="module")
def cache(realtimbre_cache: Path) -> Path:
    """The session's fresh render cache (tests/analysis/conftest.py)."""
    return realtimbre_cache


@pytest.fixture(scope="module")
def scored(cache: Path, analyzed) -> dict[str, Score]:
    """Per-instrument scores of analyze_file with default parameters."""
    items = R.build_items(R.TUNE_INSTRUMENTS, SEEDS, seconds=SECONDS, cache=cache)
    per: dict[str, Score] = {}
    for it in items:
        table = analyzed(it.path)
        per.setdefault(it.instrument, Score())
        per[it.instrument] += score(it.truth.onsets, it.truth.pitches, table.start / 1000.0,
                                    table.hz)
    return per


def test_rendered_truth_matches_the_audio(cache):
    """The generator's notes are where the sound is: loud right after each onset."""
    it = R.build_item("piano", 300, "dry", "wav", seconds=SECONDS, cache=cache)
    from worker.analysis import iter_audio_blocks

    y = np.concatenate(list(iter_audio_blocks(it.path, sr=22050)))
    assert it.truth.onsets.size >= 8
    for onset in it.truth.onsets:
        i = int(onset * 22050)
        before = np.sqrt(np.mean(y[max(0, i - 441) : i - 110] ** 2))  # 20 .. 5 ms before
        after = np.sqrt(np.mean(y[i : i + 1100] ** 2))  # the first 50 ms
        assert after > 1.5 * before, onset


def test_onsets_and_pitch_on_real_timbres(scored):
    total = Score()
    for s in scored.values():
        total += s
    report = " ".join(f"{k}:{v.f:.2f}" for k, v in scored.items())
    # Before this detector the same files scored about 0.75 overall (0.4-0.6 on bowed strings,
    # flute and clarinet); the reference method about 0.78.
    assert total.f >= 0.86, f"onset F {total.f:.3f} ({report})"
    assert min(scored[k].f for k in STRUCK) >= 0.9, report
    # Bowed strings in the hall variant are the weakest (legato note changes under reverb).
    assert min(s.f for s in scored.values()) >= 0.45, report
    assert abs(total.median_ms) <= 10.0, total.median_ms
    assert total.p90_ms <= 35.0, total.p90_ms
    assert total.pitch >= 0.8, f"pitch {total.pitch:.3f}"


def test_aac_and_wav_of_the_same_phrase_give_the_same_onsets(cache):
    """Encoder priming and decoder delay must not move samples (issue 11: AAC was late)."""
    starts = {}
    for codec in ("wav", "m4a", "mp3", "opus"):
        it = R.build_item("marimba", 301, "dry", codec, seconds=SECONDS, cache=cache)
        starts[codec] = analyze_file(it.path, AnalysisParams()).start
    ref = starts["wav"]
    for codec, got in starts.items():
        near = [np.min(np.abs(ref - t)) for t in got]
        assert np.median(near) <= 3.0, (codec, np.median(near))  # ms; grid is 11.6 ms
        signed = [ref[np.argmin(np.abs(ref - t))] - t for t in got]
        assert abs(np.median(signed)) <= 1.0, (codec, np.median(signed))

"""The single-file commands: `samplemill analyze FILE` and `samplemill sort-audio FILE`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from scheduler.cli import main
from scheduler.demo import SR, write_mp4
from tests.mediagen import tone_sequence


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """A film of rising tones with known pitches."""
    y, truth = tone_sequence(seed=3, sr=SR)
    path = write_mp4(tmp_path_factory.mktemp("cli") / "tones.mp4", y)
    return path, list(truth.f0)


def test_analyze_prints_samples_as_json_and_csv(film: tuple[Path, list[float]]) -> None:
    path, f0 = film
    out = CliRunner().invoke(main, ["analyze", str(path), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["probe"]["has_audio"] and data["stats"]["n_samples"] == len(data["samples"])
    pitched = [s["hz"] for s in data["samples"] if s["hz"] > 0]
    assert len(pitched) >= 0.8 * len(f0)
    assert all("♯" not in s["note"] for s in data["samples"])
    filtered = CliRunner().invoke(main, ["analyze", str(path), "--format", "csv",
                                         "--filter", "hz>0&clarity>0.5"])
    rows = list(csv.DictReader(io.StringIO(filtered.output)))
    assert rows and all(float(r["hz"]) > 0 and float(r["clarity"]) > 0.5 for r in rows)


def test_analyze_refuses_a_file_without_audio(tmp_path: Path) -> None:
    silent = write_mp4(tmp_path / "picture.mp4", np.zeros(SR, np.float32), with_audio=False)
    out = CliRunner().invoke(main, ["analyze", str(silent)])
    assert out.exit_code == 2 and "no audio track" in out.output


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_sort_audio_writes_samples_by_rising_pitch(
    film: tuple[Path, list[float]], tmp_path: Path, suffix: str
) -> None:
    path, _ = film
    out_path = tmp_path / f"sorted{suffix}"
    out = CliRunner().invoke(main, ["sort-audio", str(path), "--sort", "hz=asc", "--out",
                                    str(out_path), "--filter", "hz>0"])
    assert out.exit_code == 0, out.output
    with av.open(str(out_path)) as container:
        audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in container.decode(audio=0)])
        sr = container.streams.audio[0].rate
    assert len(audio) / sr > 1.0
    # the dominant frequency rises from the first second of clips to the last
    def dominant(seg: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
        return float(np.fft.rfftfreq(len(seg), 1 / sr)[np.argmax(spectrum)])
    loud = np.flatnonzero(np.abs(audio) > 0.05)
    head = audio[loud[0] + 512: loud[0] + 512 + 4096]
    tail = audio[loud[-1] - 512 - 4096: loud[-1] - 512]
    assert dominant(head) < dominant(tail)


def test_sort_audio_rejects_a_bad_sort(film: tuple[Path, list[float]], tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["sort-audio", str(film[0]), "--sort", "pitch=asc",
                                    "--out", str(tmp_path / "x.wav")])
    assert out.exit_code == 2 and "pitch=asc" in out.output


def test_a_silent_film_prints_dashes_not_none(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "silent.mp4", np.zeros(3 * SR, np.float32))
    out = CliRunner().invoke(main, ["analyze", str(path)])
    said = " ".join(out.output.split())
    assert out.exit_code == 0 and "0 samples" in said
    assert "median_power -" in said and "None" not in said

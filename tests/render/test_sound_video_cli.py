"""`samplemill remix` and `samplemill resynth --source` on generated films."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from scheduler.cli import main
from tests.render.soundgen import decode_codes, phrases, write_coded_film

SR = 48000


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(8)
    durs = [(float(rng.uniform(0.4, 1.2)), float(rng.uniform(0.25, 0.5))) for _ in range(14)]
    y, _ = phrases(durs, SR, seed=8)
    return write_coded_film(tmp_path_factory.mktemp("cli") / "film.mp4", y, SR)


def test_remix_command_writes_the_film_and_its_edit_list(film, tmp_path):
    out, edits = tmp_path / "remix.mp4", tmp_path / "edits.json"
    run = CliRunner().invoke(main, ["remix", str(film), "--duration", "12", "--seed", "1",
                                    "--out", str(out), "--edits", str(edits)])
    assert run.exit_code == 0, run.output
    assert "segments" in run.output and "target 12 s" in run.output
    rows = json.loads(edits.read_text())
    codes = decode_codes(out)
    assert codes == [r["source_frame"] + j for r in rows for j in range(r["frames"])]
    assert rows[0]["source_frame"] == 0 and 10 < len(codes) / 24 <= 12


def test_remix_command_errors_are_one_clear_line(film, tmp_path):
    run = CliRunner().invoke(main, ["remix", str(film), "--out", str(tmp_path / "x.wav")])
    assert run.exit_code == 2 and "--out must end in .mp4" in run.output
    noise = write_coded_film(tmp_path / "noise.mp4",
                             np.random.default_rng(0).standard_normal(SR * 4) * 0.3, SR)
    run = CliRunner().invoke(main, ["remix", str(noise), "--out", str(tmp_path / "n.mp4")])
    assert run.exit_code == 2 and "no silence to cut at" in run.output
    assert "Traceback" not in run.output


def test_resynth_command_from_source_films(film, tmp_path):
    out = tmp_path / "re.mp4"
    run = CliRunner().invoke(main, ["resynth", str(film), "--source", str(film), "--out",
                                    str(out), "--audio", "source"])
    assert run.exit_code == 0, run.output
    codes = decode_codes(out)
    assert np.mean(np.array(codes) == np.arange(len(codes))) > 0.9
    run = CliRunner().invoke(main, ["resynth", str(film), "--out", str(out)])
    assert run.exit_code == 2 and "either --job" in run.output

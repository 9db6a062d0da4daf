"""`samplemill loops FILE` and `samplemill frame-map FILE… --out DIR` on generated films."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scheduler.cli import main
from tests.frames.filmgen import Shot, repeats, write_film
from tests.mediagen import write_media


def test_loops_command_lists_the_planted_loop(tmp_path: Path) -> None:
    film = write_film(tmp_path / "f.mp4", [Shot(51, 0, 60), Shot(52, 0, 50),
                                            Shot(51, 20, 30, noise=3, seed=1), Shot(53, 0, 30)],
                      size=(160, 90))
    (rep,) = repeats(film)
    run = CliRunner().invoke(main, ["loops", str(film.path), "--format", "json", "--plot",
                                    str(tmp_path / "loops.png")])
    assert run.exit_code == 0, run.output
    (row,) = json.loads(run.output)
    assert (row["first"], row["repeat"], row["frames"]) == (rep.first, rep.repeat, rep.length)
    assert abs(row["repeat_start"] - rep.repeat / 25) < 1e-6 and row["period"] is None
    assert (tmp_path / "loops.png").stat().st_size > 1000
    table = CliRunner().invoke(main, ["loops", str(film.path)])
    assert table.exit_code == 0 and "1 loop(s)" in table.output
    csv = CliRunner().invoke(main, ["loops", str(film.path), "--format", "csv",
                                    "--min-length", "2"])
    assert csv.exit_code == 0 and csv.output.strip().splitlines() == [
        "first_start,repeat_start,length,similarity,period,copies,first,repeat,frames"]


def test_loops_command_errors_are_one_line(tmp_path: Path) -> None:
    audio = write_media(tmp_path / "a.m4a", [0.0] * 22050, 22050)
    run = CliRunner().invoke(main, ["loops", str(audio)])
    assert run.exit_code == 2 and "no video stream" in run.output
    assert "Traceback" not in run.output
    film = write_film(tmp_path / "f.mp4", [Shot(51, 0, 10)], size=(96, 54))
    bad = CliRunner().invoke(main, ["loops", str(film.path), "--tolerance", "500"])
    assert bad.exit_code == 2 and "tolerance" in bad.output


def test_frame_map_command_writes_json_sprites_and_picture(tmp_path: Path) -> None:
    a = write_film(tmp_path / "a.mp4", [Shot(54, 0, 75)], size=(160, 90))
    b = write_film(tmp_path / "b.mp4", [Shot(55, 0, 50)], size=(160, 90))
    out = tmp_path / "map"
    run = CliRunner().invoke(main, ["frame-map", str(a.path), str(b.path), "--out", str(out),
                                    "--method", "tsne", "--method", "mds", "--rate", "5",
                                    "--thumb-width", "32", "--picture-size", "512"])
    assert run.exit_code == 0, run.output
    items = json.loads((out / "frame-map.json").read_text())
    assert len(items) == 15 + 10
    assert {it["file"] for it in items} == {"a.mp4", "b.mp4"}
    assert set(items[0]) == {"src", "file", "t", "tsne_gray", "mds_gray", "tsne_hsl",
                             "mds_hsl"}
    assert (out / "frame-map.png").is_file() and (out / "frame-map-sprites-000.jpg").is_file()
    bad = CliRunner().invoke(main, ["frame-map", str(a.path), "--out", str(out), "--picture",
                                    "pca_gray"])
    assert bad.exit_code == 2 and "picture" in bad.output

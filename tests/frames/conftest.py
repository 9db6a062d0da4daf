"""Generated films shared by the picture tests (written once per session)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.frames.filmgen import (
    Film,
    Shot,
    duplicate_films_shots,
    loop_film_shots,
    write_film,
)
from worker.frames.fingerprint import Fingerprints, fingerprint_file

LOOP_SIZE = (192, 108)


@dataclass
class Fingerprinted:
    film: Film
    fp: Fingerprints


@pytest.fixture(scope="session")
def loop_films(tmp_path_factory: pytest.TempPathFactory) -> list[Fingerprinted]:
    """Two films with planted loops and distractors, fingerprinted."""
    root = tmp_path_factory.mktemp("loop-films")
    out = []
    for seed in (1, 2):
        film = write_film(root / f"loops-{seed}.mp4", loop_film_shots(seed), size=LOOP_SIZE)
        out.append(Fingerprinted(film, fingerprint_file(film.path)))
    return out


@pytest.fixture(scope="session")
def duplicate_films(tmp_path_factory: pytest.TempPathFactory) -> list[Fingerprinted]:
    """Four films sharing stretches, at different sizes and qualities, fingerprinted."""
    root = tmp_path_factory.mktemp("dup-films")
    sizes = [(192, 108), (160, 90), (256, 144), (224, 126)]
    crfs = [23, 30, 20, 26]
    out = []
    for k, shots in enumerate(duplicate_films_shots(5)):
        film = write_film(root / f"dup-{k}.mp4", shots, size=sizes[k], render_size=LOOP_SIZE,
                          crf=crfs[k])
        out.append(Fingerprinted(film, fingerprint_file(film.path)))
    return out


@pytest.fixture(scope="session")
def scenes_film(tmp_path_factory: pytest.TempPathFactory) -> Film:
    """Six distinct moving scenes, each shown twice (200 frames per scene, 25 fps)."""
    root = tmp_path_factory.mktemp("scenes")
    shots = [Shot(40 + s, 0, 100) for s in range(6)] + [Shot(40 + s, 100, 100) for s in range(6)]
    return write_film(root / "scenes.mp4", shots, size=(192, 108))

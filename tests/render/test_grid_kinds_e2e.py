"""The grid kinds end to end through real workers: generated films -> samples -> subset ->
an 8×8 grid -> one job with a [[render]] per kind. Each kind's mp4 has its planned frames and
length, its plays' beeps land in the mixed audio where planned (within 20 ms), and one frame
matches a stored low-resolution reference image (tests/render/references/<kind>.png), so a
change to the motion shows up.

A kind is one entry of KINDS: its name, its [[render]] keys (small, quick, dry, with plays
spaced so that most beeps can be told apart) and the second of the render to compare.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sqlalchemy import select

from db.engine import session_scope
from db.models import Artifact
from scheduler.run import RunOutcome, run_job
from tests.pipeline_harness import catalog, configure
from tests.render import kindcheck
from tests.render.gridgen import flash_beep_film
from worker.render.clipcache import ClipCache
from worker.render.engine.render import render_rgb
from worker.render.grid import Composition
from worker.render.gridvideo import load_plan

EVENTS = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
COMMON = 'width = 256\nheight = 144\npreset = "ultrafast"\nreverb = 0\nchunk_s = 4.0\n' \
         "pad_before_ms = 500\npad_after_ms = 500\n"


@dataclass(frozen=True)
class Kind:
    """A grid kind under test: its [[render]] keys, the second to compare, plays to check."""

    name: str
    keys: str
    preview_s: float
    min_checked: int = 4
    tolerance_ms: float = kindcheck.TOLERANCE_MS  # how far a beep may land from its plan


KINDS = [
    Kind("waves", "grid = 8\ngrid0 = 8\ngrid1 = 4\nsteps = 2\nbeat_ms = 5000\nwave_ms = 6400\n"
         "max_audio_clips = 24\nkeep_audio_clips = 4\n", 3.0),
    Kind("falling", "grid = 8\nview = 4\nduration_s = 10\nplay_radius = 2\nwaves = 2\n"
         "max_column_delta = 8\ndelay_play_ms = 500\n", 5.0),
    Kind("orbits", "grid = 8\ngrid0 = 4\ngrid1 = 8\nbeat_ms = 500\n", 3.3),
    Kind("shuffle", "grid = 8\ngrid0 = 8\ngrid1 = 4\nbeat_ms = 1200\nbeat_divisions = 2\n"
         "beats_per_shuffle = 2\ncount = 3\ntransition_ms = 1000\nmax_offset = 2\n", 3.35),
    Kind("stretch", "grid = 8\ngrid0 = 4\ngrid1 = 8\nstretch_ms = 3000\nstretch_to_ms = 500\n"
         "step_ms = 800\n", 4.0,
         # replays are time-stretched (Rubber Band): a stretched beep's attack lands up to a
         # few tens of ms late, by which samples the layout puts in the strips; within one
         # 24 fps frame (41.7 ms) it is still in sync with its flash
         tolerance_ms=40.0),
    Kind("flow", "grid = 8\nrotation_ms = 2000\nrotations = 3\nclips_to_play = 6\n"
         "play_ms = 1200\naudio_offset_ms = -600\n", 3.5, 3),
    Kind("splice", "grid = 8\ngrid0 = 8\ngrid1 = 4\ncycle_ms = [3000.0, 5000.0]\n"
         "column_pass_ms = [2400.0, 1600.0]\nstretch = [1.5, 2.0]\n", 2.0),
]
# still kinds (one PNG, no sound): [[render]] keys without COMMON's sound and padding keys
STILLS = [Kind("poster", 'grid = 8\ngrid1 = 4\ntitle = "# kinds"\n', 0.0)]

JOB = """
name = "kinds"
[source]
kind = "local"
folder = "{folder}"
patterns = ["*.mp4"]
[probe]
[analyze]
[[subset]]
name = "main"
[[layout]]
subset = "main"
perplexity = 5
grid = "8x8"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunOutcome, dict]]:
    """One job rendering every kind of KINDS: its outcome and its artifacts by (kind, name)."""
    root = tmp_path_factory.mktemp("kinds")
    monkeypatch = pytest.MonkeyPatch()
    try:
        settings = configure(monkeypatch, root)
        folder = root / "films"
        folder.mkdir()
        for i in range(9):
            flash_beep_film(folder / f"film{i}.mp4", EVENTS, 8.4, flash_len=3)
        renders = "".join(f'\n[[render]]\nkind = "{k.name}"\nname = "{k.name}"\n'
                          f'subset = "main"\n{COMMON}{k.keys}' for k in KINDS)
        renders += "".join(f'\n[[render]]\nkind = "{k.name}"\nname = "{k.name}"\n'
                           f'subset = "main"\nwidth = 256\nheight = 144\n{k.keys}'
                           for k in STILLS)
        job = root / "kinds.toml"
        job.write_text(JOB.format(folder=folder) + renders)
        outcome = run_job(job, settings, console=Console(file=io.StringIO()))
        assert outcome.exit_code == 0, outcome.failures
        with session_scope(catalog(settings)) as session:
            arts = {(a.kind, a.name): (Path(a.path), a.params, a.duration)
                    for a in session.scalars(select(Artifact).where(
                        Artifact.job_id == outcome.job_id))}
        yield outcome, arts
    finally:
        monkeypatch.undo()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_kind_renders_as_planned(kind: Kind, rendered) -> None:
    _, arts = rendered
    path, params, duration = arts[(kind.name, kind.name)]
    sheet = arts[("contact_sheet", f"{kind.name}-sheet")][0]
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folder = Path(arts[("render_plan", kind.name)][1]["folder"])
    comp = Composition.load(folder)
    assert comp.kind == kind.name and len(comp.plays) > 0

    # frames and length as planned
    got = kindcheck.decode(path)
    assert got.frames == comp.scene.n_frames == params["frames"]
    assert got.fps == comp.scene.fps
    assert got.duration_s == pytest.approx(comp.scene.duration_s, abs=0.05)
    assert duration == pytest.approx(comp.scene.duration_s)

    # the plays' beeps land in the mix at their planned times
    offsets = kindcheck.beep_offsets(comp, np.array(EVENTS) * 1000)
    assert all(o.size for o in offsets), "every clip holds a beep"
    groups, plays = kindcheck.check_plays_land(got.audio, comp, offsets, kind.tolerance_ms)
    assert groups >= kind.min_checked, (groups, plays, len(comp.plays))

    # the render's own frame shows the films' pictures
    plan = load_plan(folder)
    cache = ClipCache.open(plan.cache)
    frame = round(kind.preview_s * comp.scene.fps)
    assert render_rgb(comp.scene, np.asarray(cache.data()), cache.layout, frame).mean() > 5
    # and the motion at that frame matches its stored low-resolution reference
    kindcheck.check_preview(kind.name, kindcheck.card_frame(comp, cache.layout, frame))


@pytest.mark.slow
@pytest.mark.parametrize("kind", STILLS, ids=[k.name for k in STILLS])
def test_still_renders_as_planned(kind: Kind, rendered) -> None:
    """A still kind (poster): its PNG at the planned size with clips and the title, and the
    still redrawn with test cards matching its stored reference."""
    from PIL import Image

    _, arts = rendered
    path, params, duration = arts[(kind.name, kind.name)]
    assert duration is None and path.suffix == ".png"
    img = Image.open(path)
    assert img.size == tuple(params["info"]["size"]) == (256, 144)
    rgb = np.asarray(img.convert("RGB"))
    assert rgb.mean() > 5 and (rgb.mean(axis=2) > 240).sum() > 20  # clips, and the title
    folder = Path(params["folder"])
    comp = Composition.load(folder)
    cache = ClipCache.open(load_plan(folder).cache)
    kindcheck.check_preview(kind.name, kindcheck.card_frame(comp, cache.layout, 0))

"""The remix render on generated films: cuts in silences, frame-accurate picture, seeding."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from core.errors import MediaError
from tests.render.soundgen import (
    decode_codes,
    espeak_available,
    espeak_speech,
    phrases,
    write_coded_film,
)
from worker.analysis.decode import iter_audio_blocks
from worker.render.cutlist.audio import CrossfadeJoiner
from worker.render.remix.edits import Segment, edit_list
from worker.render.remix.params import RemixParams
from worker.render.remix.render import plan_remix, render_remix
from worker.render.remix.silence import find_cuts

SR = 48000


def _phrase_film(path: Path, seed: int, n: int = 24, *, level: float = 0.5,
                 film: int = 0) -> tuple[Path, list[tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    durations = [(float(rng.uniform(0.4, 1.6)), float(rng.uniform(0.25, 0.7))) for _ in range(n)]
    y, spans = phrases(durations, SR, seed=seed, level=level)
    return write_coded_film(path, y, SR, film=film), spans


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    return _phrase_film(tmp_path_factory.mktemp("remix") / "film.mp4", seed=3)


def _audio(path: Path) -> np.ndarray:
    return np.concatenate(list(iter_audio_blocks(path, sr=SR)))


def _expected_codes(edits: list[Segment]) -> np.ndarray:
    return np.concatenate([np.arange(e.start, e.start + e.frames) for e in edits])


def test_every_join_lands_in_a_silence_and_the_picture_is_frame_accurate(film, tmp_path):
    path, spans = film
    params = RemixParams(duration=40.0, seed=1)
    result = render_remix([path], tmp_path / "out.mp4", params)
    plan = result.plan
    cuts = plan.cuts[0]
    edits = list(plan.edits)
    assert len(edits) > 10
    # Source side: each join leaves one segment at its end and enters the next at its start,
    # and both are inside windows under the threshold (which sits between room tone and sound).
    for a, b in itertools.pairwise(edits):
        assert cuts.silent_at(a.start_s + a.dur_s), a
        assert cuts.silent_at(b.start_s), b
        for s, e in spans:  # and outside every sound burst of the generated truth
            assert not s < b.start_s < e and not s < a.start_s + a.dur_s < e
    assert 1e-4 < cuts.threshold < 0.5
    # Output side: the rendered sound just after each join is as quiet as the threshold says.
    out = _audio(result.path)
    starts = plan.output_frames()
    for f in starts[1:-1]:
        j = round(int(f) / float(plan.fps) * SR)
        assert np.abs(out[j + SR // 200 : j + SR // 25]).max() < cuts.threshold
    # Picture: every output frame is exactly the planned source frame.
    assert decode_codes(result.path) == _expected_codes(edits).tolist()
    # First and last segments stay in place; the length is within one segment of the target.
    assert edits[0].start == 0 and edits[-1].start + edits[-1].frames == plan.videos[0].frames
    longest = max(e.dur_s for e in edits[1:-1])
    assert params.duration - longest <= result.duration_s <= params.duration
    assert abs(out.size / SR - result.duration_s) < 0.05


def test_same_seed_same_edits_and_bytes_other_seed_differs(film, tmp_path):
    path, _ = film
    a = render_remix([path], tmp_path / "a.mp4", RemixParams(duration=20.0, seed=7))
    b = render_remix([path], tmp_path / "b.mp4", RemixParams(duration=20.0, seed=7))
    c = plan_remix([path], RemixParams(duration=20.0, seed=8))
    assert a.plan.edits == b.plan.edits
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert c.edits != a.plan.edits


def test_no_repeat_within_the_last_picks():
    segs = [Segment(0, i * 10, 10, np.int64(10)) for i in range(6)]  # 1 s each
    for seed in range(20):
        edits = edit_list([segs], 60.0, seed, no_repeat=3)
        fill = [e.start for e in edits[1:-1]]
        assert len(fill) == 58
        for i in range(len(fill)):
            assert len(set(fill[max(0, i - 3) : i + 1])) == len(fill[max(0, i - 3) : i + 1])


def test_the_threshold_follows_the_films_own_level(tmp_path):
    """A film played 30 dB quieter cuts at the same places; the seed's absolute 0.02 does not."""
    loud, _ = _phrase_film(tmp_path / "loud.mp4", seed=5, n=12, level=0.5)
    quiet, _ = _phrase_film(tmp_path / "quiet.mp4", seed=5, n=12, level=0.5 * 10 ** (-30 / 20))
    a, b = find_cuts(loud), find_cuts(quiet)
    assert a.cuts.size >= 10
    np.testing.assert_allclose(a.cuts, b.cuts)
    seed_loud = find_cuts(loud, absolute=0.02)  # on a loud film the seed's rule cuts alike
    assert abs(seed_loud.cuts.size - a.cuts.size) <= 1
    assert np.abs(seed_loud.cuts[:, None] - a.cuts[None, :]).min(axis=1).max() <= 0.1 + 1e-6
    seed_quiet = find_cuts(quiet, absolute=0.02)  # everything is under 0.02: one long silence
    assert seed_quiet.cuts.size == 1


def test_a_film_with_no_silence_gets_a_clear_message(tmp_path):
    noise = np.random.default_rng(0).standard_normal(SR * 6).astype(np.float32) * 0.2
    path = write_coded_film(tmp_path / "noise.mp4", noise, SR)
    with pytest.raises(MediaError, match="no silence to cut at"):
        render_remix([path], tmp_path / "out.mp4", RemixParams(duration=10.0))
    silent = write_coded_film(tmp_path / "silent.mp4", np.zeros(SR * 3, np.float32), SR)
    with pytest.raises(MediaError, match="digital silence"):
        plan_remix([silent], RemixParams(duration=10.0))


def test_segments_from_several_films(film, tmp_path):
    path, _ = film
    other, _ = _phrase_film(tmp_path / "other.mp4", seed=11, n=16, film=1)
    result = render_remix([path, other], tmp_path / "mix.mp4",
                          RemixParams(duration=40.0, seed=2, crossfade_ms=0))
    films = {e.film for e in result.plan.edits}
    assert films == {0, 1}
    assert result.plan.edits[0].film == 0 and result.plan.edits[-1].film == 0
    assert decode_codes(result.path) == _expected_codes(list(result.plan.edits)).tolist()


def test_crossfade_keeps_length_and_power():
    joiner = CrossfadeJoiner(1, 100)
    a = np.ones((1, 1100), np.float32)
    b = np.ones((1, 1100), np.float32)
    out = np.concatenate([joiner.add(a, 1000), joiner.add(b, 1000)], axis=1)
    assert out.shape == (1, 2000)
    # equal-power: two uncorrelated-free constant signals sum to sin + cos >= 1 in the fade
    assert out[0, :1000].min() == 1.0 and out[0, 1000:1100].min() >= 1.0 - 1e-6
    hard = CrossfadeJoiner(1, 0)
    assert hard.add(a, 1000).shape == (1, 1000)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed "
                    "(apt-get install espeak-ng; .ci/run installs it)")
def test_remix_of_real_speech_cuts_between_words(tmp_path):
    text = ("Oysters, clams and cockles. Sam cleans the Citadel. He empties the pots. "
            "He stacks the books. He serves the soup. Then he cleans again, and again.")
    wav = espeak_speech(text, tmp_path / "speech.wav", speed=140)
    import soundfile as sf

    y, sr = sf.read(wav, dtype="float32")
    y = np.concatenate([y, np.zeros(sr // 2, np.float32)])
    path = write_coded_film(tmp_path / "speech.mp4", y, sr)
    result = render_remix([path], tmp_path / "out.mp4", RemixParams(duration=30.0, seed=4))
    cuts = result.plan.cuts[0]
    edits = list(result.plan.edits)
    assert len(edits) >= 6
    for a, b in itertools.pairwise(edits):
        assert cuts.silent_at(a.start_s + a.dur_s) and cuts.silent_at(b.start_s)
    assert decode_codes(result.path) == _expected_codes(edits).tolist()

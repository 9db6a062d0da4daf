"""Concatenative synthesis on generated films: self-resynthesis, known tones, the index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import MediaError
from tests.render.soundgen import decode_codes, phrases, tone_track, write_coded_film
from worker.analysis.decode import iter_audio_blocks
from worker.render.resynth.features import (
    FLOOR_DB,
    frame_features,
    load_features,
    save_features,
)
from worker.render.resynth.index import BACKENDS, FrameIndex, build_index
from worker.render.resynth.match import viterbi
from worker.render.resynth.params import ResynthParams
from worker.render.resynth.render import match_target, render_resynth

SR = 48000
FPS = 24
NOTE_S = 0.5


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two films of varied sound (bursts and pauses), each frame numbered in its picture."""
    folder = tmp_path_factory.mktemp("resynth")
    out = []
    for i in range(2):
        rng = np.random.default_rng(20 + i)
        durs = [(float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.1, 0.5))) for _ in range(14)]
        y, _ = phrases(durs, SR, seed=20 + i)
        y += np.random.default_rng(i).standard_normal(y.size).astype(np.float32) * 0.02
        out.append(write_coded_film(folder / f"film{i}.mp4", y, SR, fps=FPS, film=i))
    return out


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Three films of 0.5 s notes in shuffled orders; which note sounds in each frame."""
    folder = tmp_path_factory.mktemp("tones")
    paths, truth = [], []
    rng = np.random.default_rng(1)
    for i in range(3):
        notes = [int(m) for m in rng.permutation(np.arange(48, 72))]  # two octaves from C3
        y = tone_track(notes, NOTE_S, SR, seed=i)
        paths.append(write_coded_film(folder / f"tones{i}.mp4", y, SR, fps=FPS, film=i))
        per_frame = np.repeat(notes, round(NOTE_S * FPS))
        truth.append(per_frame)
    return paths, truth


def _index(paths: list[Path], backend: str = "faiss-ivf") -> FrameIndex:
    return build_index([frame_features(p).feats for p in paths], backend=backend,
                       files=[str(p) for p in paths])


def test_features_describe_every_frame_and_ignore_the_level(films, tmp_path):
    f = frame_features(films[0])
    assert f.frames == len(decode_codes(films[0])) and f.feats.shape[1] == 40
    assert float(f.fps) == FPS
    y = np.concatenate(list(iter_audio_blocks(films[0], sr=SR)))
    quiet = write_coded_film(tmp_path / "quiet.mp4", y * 0.1, SR, fps=FPS)
    g = frame_features(quiet)
    assert abs((f.level_db - g.level_db) - 20.0) < 0.5
    loud = f.feats > FLOOR_DB + 30  # where there is sound, the features match within 1 dB
    assert loud.mean() > 0.3
    assert np.median(np.abs(f.feats[loud] - g.feats[loud])) < 1.0
    stored = load_features(save_features(tmp_path / "f.npz", f))
    np.testing.assert_array_equal(stored.feats, f.feats)
    assert stored.fps == f.fps and stored.level_db == f.level_db


def test_resynthesising_a_film_from_itself_returns_its_own_frames_in_order(films, tmp_path):
    index = _index(films)  # the film and a distractor
    out = tmp_path / "self.mp4"
    result = render_resynth(films[0], index, films, out, ResynthParams(audio="target"))
    n = len(decode_codes(films[0]))
    assert result.files.size == n
    own = (result.files == 0) & (result.frames == np.arange(n))
    assert own.mean() > 0.9
    assert result.match.runs() < n / 20
    # the picture shows exactly the chosen frames
    codes = np.array(decode_codes(out))
    assert codes.size == n
    assert (codes == result.frames).all()
    # the sound is the target's
    a = np.concatenate(list(iter_audio_blocks(out, sr=16000)))
    b = np.concatenate(list(iter_audio_blocks(films[0], sr=16000)))
    m = min(a.size, b.size)
    assert np.corrcoef(a[:m], b[:m])[0, 1] > 0.95


def test_a_target_melody_picks_frames_of_matching_tones(tone_corpus, tmp_path):
    paths, truth = tone_corpus
    melody = [60, 64, 67, 72 - 1, 65, 62, 59, 55, 57, 69, 50, 52]
    y = tone_track(melody, NOTE_S * 2, SR, level=0.05, seed=9)  # other phases, 24 dB quieter
    target = tmp_path / "melody.wav"
    sf.write(target, y, SR)
    index = _index(paths)
    out = tmp_path / "melody.mp4"
    result = render_resynth(target, index, paths, out,
                            ResynthParams(audio="mix", fps=FPS, k=8))
    per_frame = round(NOTE_S * 2 * FPS)
    expected = np.repeat(melody, per_frame)[: result.files.size]
    picked = np.array([truth[f][fr] if fr < truth[f].size else -1
                       for f, fr in zip(result.files, result.frames, strict=True)])
    inner = np.ones(expected.size, bool)  # skip the frames that straddle a note change
    for b in range(0, expected.size + 1, per_frame):
        inner[max(0, b - 1) : b + 1] = False
    assert (picked[inner] == expected[inner]).mean() > 0.9
    # the picture plays runs of frames (a source note lasts 10 clean frames), not a jitter
    nearest = match_target(frame_features(target, fps=FPS), index,
                           ResynthParams(continuity=0.0, k=8))
    assert result.match.runs() < nearest.runs() / 3
    assert result.files.size / result.match.runs() >= 4
    assert len(decode_codes(out)) == result.files.size


def test_viterbi_prefers_runs_and_continuity_zero_takes_the_nearest():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    index = build_index([x[:200], x[200:]], backend="exact")
    q = x[50:150] + rng.standard_normal((100, 8)).astype(np.float32) * 0.8  # noisy copy
    d, i = index.search(q, 5)
    nearest = i[:, 0]
    smooth, _ = viterbi(index, q, d, i, jump=float(np.median(d[:, -1])), block=32)
    runs = lambda r: 1 + np.count_nonzero(np.diff(r) != 1)  # noqa: E731
    assert runs(smooth) < runs(nearest) / 3
    assert (smooth == np.arange(50, 150)).mean() > 0.8
    zero, _ = viterbi(index, q, d, i, jump=0.0, block=32)
    assert (d[np.arange(100), 0] <= index.distances(q, zero[:, None])[:, 0] + 1e-4).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_index_backend_finds_neighbours_and_survives_a_round_trip(backend, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    q = x[:200] + rng.standard_normal((200, 16)).astype(np.float32) * 0.05
    index = build_index([x[:1000], x[1000:]], backend=backend, nprobe=8)
    d, i = index.search(q, 5)
    assert (i[:, 0] == np.arange(200)).mean() > 0.9
    assert (np.diff(d, axis=1) >= -1e-4).all()
    f, _ = index.locate(i[:, 0])
    assert set(f.tolist()) <= {0, 1}
    again = FrameIndex.load(index.save(tmp_path / "ix"))
    _, i2 = again.search(q, 5)
    assert (i2[:, 0] == i[:, 0]).mean() > 0.95
    assert again.successor(np.array([999, 1000, 2999])).tolist() == [-1, 1001, -1]


def test_bad_inputs_get_clear_errors(films, tmp_path):
    with pytest.raises(MediaError, match="no frames to index"):
        build_index([], backend="exact")
    index = _index(films[:1])
    with pytest.raises(MediaError, match="holds 1 files"):
        render_resynth(films[0], index, films, tmp_path / "x.mp4", ResynthParams())
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a film")
    with pytest.raises(MediaError):
        render_resynth(bad, index, films[:1], tmp_path / "y.mp4", ResynthParams())

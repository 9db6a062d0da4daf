"""Awkward and bad input: audio-only, video-only, corrupt mid-file, truncated, garbage,
variable frame rate, rotated video."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MediaError, SamplemillError
from tests.frames.filmgen import Shot, corrupt_middle, repeats, write_film
from tests.mediagen import write_garbage, write_media, write_truncated
from worker.frames.align import Seq
from worker.frames.fingerprint import fingerprint_file
from worker.frames.hashindex import hamming
from worker.frames.loops import find_loops
from worker.frames.store import write_frame_set

SHOTS = [Shot(81, 0, 60), Shot(82, 0, 50), Shot(81, 10, 40, noise=3, seed=1), Shot(83, 0, 40)]


def _loops(fp):
    f = fp.frames
    return find_loops(Seq.from_arrays(f.phash, f.dhash, f.stats, f.thumb_gray, f.t,
                                      fp.info.fps, min_contrast=4.0))


def test_audio_only_is_a_media_error(tmp_path):
    wav = write_media(tmp_path / "tone.m4a", np.zeros(22050, np.float32), 22050)
    with pytest.raises(MediaError, match="no video stream"):
        fingerprint_file(wav)
    with pytest.raises(MediaError, match="no video stream"):
        write_frame_set(wav, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_with_and_without_audio_the_picture_is_the_same(tmp_path):
    silent = write_film(tmp_path / "v.mp4", SHOTS, size=(160, 90))
    voiced = write_film(tmp_path / "av.mp4", SHOTS, size=(160, 90), audio=True)
    a, b = fingerprint_file(silent.path).frames, fingerprint_file(voiced.path).frames
    np.testing.assert_array_equal(a.phash, b.phash)
    assert len(_loops(fingerprint_file(voiced.path))) == 1


def test_garbage_and_empty_files_are_media_errors(tmp_path):
    with pytest.raises(MediaError):
        fingerprint_file(write_garbage(tmp_path / "junk.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError):
        fingerprint_file(tmp_path / "empty.mp4")
    with pytest.raises(MediaError):
        fingerprint_file(tmp_path / "absent.mp4")


def test_corrupt_middle_keeps_the_good_frames(tmp_path):
    shots = [Shot(91, 0, 150), Shot(92, 0, 100), Shot(91, 20, 60, noise=3, seed=2),
             Shot(93, 0, 90)]
    film = write_film(tmp_path / "ok.mkv", shots, size=(160, 90), gop=25)
    bad = corrupt_middle(film.path, tmp_path / "bad.mkv", at=0.5, nbytes=3000)
    fp = fingerprint_file(bad)
    good = fingerprint_file(film.path).frames
    assert 0.5 * film.frames < len(fp.frames) < film.frames  # some frames lost, most kept
    # frames far from the damage are untouched and keep their times
    head = fp.frames.t < 3.0
    np.testing.assert_array_equal(fp.frames.phash[head], good.phash[: head.sum()])
    assert np.all(np.diff(fp.frames.t) > 0)
    _loops(fp)  # searching a damaged file works


def test_truncated_file_gives_its_first_part(tmp_path):
    mkv = write_film(tmp_path / "full.mkv", SHOTS, size=(160, 90))
    fp = fingerprint_file(write_truncated(mkv.path, tmp_path / "cut.mkv", keep=0.6))
    full = fingerprint_file(mkv.path).frames
    assert 0.3 * mkv.frames < len(fp.frames) < mkv.frames
    n = len(fp.frames) - 5  # the last frames before the cut may be damaged
    np.testing.assert_array_equal(fp.frames.phash[:n], full.phash[:n])
    mp4 = write_film(tmp_path / "full.mp4", SHOTS, size=(160, 90))
    with pytest.raises(MediaError, match="cannot open"):  # mp4 keeps its index at the end
        fingerprint_file(write_truncated(mp4.path, tmp_path / "cut.mp4", keep=0.6))


def test_variable_frame_rate_times_follow_the_stream(tmp_path):
    film = write_film(tmp_path / "vfr.mp4", SHOTS, size=(160, 90), vfr_seed=3)
    fp = fingerprint_file(film.path)
    np.testing.assert_allclose(fp.frames.t, film.extra["times"], atol=1e-6)
    loops = _loops(fp)
    (truth,) = repeats(film)
    assert [(lp.first, lp.repeat, lp.frames) for lp in loops] == [
        (truth.first, truth.repeat, truth.length)]
    times = film.extra["times"]
    assert loops[0].first_start == pytest.approx(times[truth.first])
    assert loops[0].repeat_start == pytest.approx(times[truth.repeat])


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_video_is_fingerprinted_as_displayed(tmp_path, rotation):
    upright = write_film(tmp_path / "up.mp4", SHOTS, size=(160, 96))
    turned = write_film(tmp_path / f"rot{rotation}.mp4", SHOTS, size=(160, 96),
                        rotation=rotation)
    a, b = fingerprint_file(upright.path), fingerprint_file(turned.path)
    assert b.info.rotation == rotation and (b.info.width, b.info.height) == (96, 160)
    d = hamming(a.frames.phash, b.frames.phash)
    assert d.mean() < 3, d
    err = np.abs(a.frames.thumb_color.astype(float) - b.frames.thumb_color).mean()
    assert err < 6
    assert len(_loops(b)) == 1


def test_bad_parameters_are_errors(tmp_path):
    from worker.frames.fingerprint import FingerprintParams

    with pytest.raises(ValueError):
        FingerprintParams(every=0)
    with pytest.raises(ValueError):
        FingerprintParams(rate=0)
    assert issubclass(MediaError, SamplemillError)

"""probe_media: stream facts and real duration of real files; bad files raise MediaError."""

from __future__ import annotations

import pytest

from core.errors import MediaError
from tests.mediagen import (
    white_noise,
    write_garbage,
    write_media,
    write_truncated,
    write_video_only,
)
from worker.analysis.probe import ProbeResult, probe_media

SR = 22050


@pytest.fixture(scope="module")
def noise():
    """Fifty seconds of noise: long enough for the tail-seek path of the measurement."""
    return white_noise(50.0, SR, db=-20)


def test_mp4_with_video(tmp_path, noise):
    path = write_media(tmp_path / "a.mp4", noise, SR, fps=12, size=(64, 48))
    for fast in (False, True):
        r = probe_media(path, fast=fast)
        assert r.has_audio and r.has_video
        assert "mp4" in r.container
        assert (r.audio_codec, r.sample_rate, r.channels) == ("aac", SR, 1)
        assert (r.video_codec, r.width, r.height) in (("h264", 64, 48), ("mpeg4", 64, 48))
        assert r.fps == pytest.approx(12.0)
        assert r.duration == pytest.approx(50.0, abs=0.2)
    d = r.to_dict()
    assert set(d) == {f for f in ProbeResult.__dataclass_fields__} and d["channels"] == 1


def test_wav_stereo(tmp_path, noise):
    r = probe_media(write_media(tmp_path / "a.wav", [noise, noise], SR))
    assert (r.container, r.audio_codec, r.channels) == ("wav", "pcm_s16le", 2)
    assert not r.has_video and r.video_codec is None and r.fps is None
    assert r.duration == pytest.approx(50.0, abs=0.01)


def test_video_without_audio_is_not_an_error(tmp_path):
    r = probe_media(write_video_only(tmp_path / "v.mp4", 3.0))
    assert r.has_video and not r.has_audio
    assert r.audio_codec is None and r.sample_rate is None
    assert r.duration == pytest.approx(3.0, abs=0.1)


def test_measured_duration_of_truncated_flac(tmp_path, noise):
    good = write_media(tmp_path / "a.flac", noise, SR)
    cut = write_truncated(good, tmp_path / "cut.flac", 0.5)
    assert probe_media(cut, fast=True).duration == pytest.approx(50.0, abs=0.1)  # header lies
    assert probe_media(cut).duration == pytest.approx(25.0, abs=2.0)  # what is really there


@pytest.mark.parametrize("make", ["garbage", "truncated_mp4", "missing", "empty"])
def test_bad_files_raise_media_error(tmp_path, noise, make):
    if make == "garbage":
        path = write_garbage(tmp_path / "g.mp4")
    elif make == "truncated_mp4":
        path = write_truncated(write_media(tmp_path / "a.mp4", noise, SR), tmp_path / "t.mp4")
    elif make == "empty":
        path = tmp_path / "e.mkv"
        path.write_bytes(b"")
    else:
        path = tmp_path / "missing.mp4"
    with pytest.raises(MediaError) as info:
        probe_media(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("suffix", "codec", "video"), [
    (".mkv", "aac", True), (".m4a", "aac", False), (".mp3", "mp3", False),
    (".flac", "flac", False)])
def test_other_containers(tmp_path, noise, suffix, codec, video):
    r = probe_media(write_media(tmp_path / f"a{suffix}", noise[: 5 * SR], SR))
    assert r.has_audio and r.has_video == video
    assert r.audio_codec.startswith(codec)  # ffmpeg names the mp3 decoder "mp3float"
    assert r.duration == pytest.approx(5.0, abs=0.1)

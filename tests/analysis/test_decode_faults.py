"""Decode faults are repaired and counted, not fatal: NaN/inf samples become 0, a packet that
fails to decode mid-file is skipped as silence of its length (so later times stay right), up to
a limit; the analyze stage records the counts on the file."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import select

from core.errors import MediaError
from db.engine import session_scope
from db.models import File
from scheduler.cli import main
from scheduler.run import run_job
from tests.mediagen import tone_sequence, write_media
from tests.pipeline_harness import catalog, configure
from worker.analysis import AnalysisParams, analyze_file
from worker.analysis.decode import MAX_BAD_PACKETS, counting_faults, iter_audio_blocks

SR = 22050


def decode(path: Path) -> tuple[np.ndarray, int, int]:
    with counting_faults() as faults:
        audio = np.concatenate(list(iter_audio_blocks(path, sr=SR)))
    return audio, faults.bad_packets, faults.nonfinite_samples


@pytest.fixture(scope="module")
def tones() -> np.ndarray:
    return tone_sequence(12, SR, seed=3, noise_db=None)[0]


def nan_wav(path: Path, tones: np.ndarray) -> tuple[Path, int]:
    """A float WAV with NaN and inf samples inside its tones; returns it and their count."""
    y = tones.copy()
    y[SR : SR + 300] = np.nan
    y[3 * SR] = np.inf
    sf.write(path, y, SR, subtype="FLOAT")
    return path, 301


def corrupt_packets(src: Path, dst: Path, count: int) -> list[int]:
    """Copy `src` with the payload of `count` of its larger audio packets from a third of the
    way in overwritten with garbage; returns their pts."""
    with av.open(str(src)) as c:
        stream = c.streams.audio[0]
        packets = [(p.pos, p.size, p.pts) for p in c.demux(stream) if p.size and p.pos]
    big = [p for p in packets[len(packets) // 3:] if p[1] >= 100][:count]
    assert len(big) == count
    data = bytearray(src.read_bytes())
    for pos, size, _ in big:
        data[pos : pos + size] = bytes([0xFF]) * size
    dst.write_bytes(bytes(data))
    return [pts for _, _, pts in big]


def test_nan_and_inf_samples_are_zeroed_and_counted(tmp_path: Path, tones: np.ndarray) -> None:
    path, bad = nan_wav(tmp_path / "nan.wav", tones)
    audio, packets, nonfinite = decode(path)
    assert np.isfinite(audio).all() and (packets, nonfinite) == (0, bad)
    assert not audio[SR : SR + 300].any()
    with counting_faults() as faults:
        table = analyze_file(path, AnalysisParams())
    assert len(table) >= 8 and faults.nonfinite_samples == bad
    shown = CliRunner().invoke(main, ["analyze", str(path)])
    said = " ".join(shown.output.split())
    assert shown.exit_code == 0 and "301 NaN/inf sample(s) set to 0" in said


def test_a_bad_packet_mid_file_is_skipped_as_silence(tmp_path: Path, tones: np.ndarray) -> None:
    clean = write_media(tmp_path / "clean.m4a", tones, SR)
    broken = tmp_path / "broken.m4a"
    corrupt_packets(clean, broken, 1)
    good, _, _ = decode(clean)
    audio, packets, nonfinite = decode(broken)
    assert (packets, nonfinite) == (1, 0)
    assert audio.size == good.size, "the skipped packet's span is kept, as silence"
    # after the bad packet (and the decoder's recovery) the audio is the same, so times hold
    tail = slice(audio.size * 2 // 3, audio.size)
    assert np.allclose(audio[tail], good[tail], atol=1e-3)
    with counting_faults():
        a = analyze_file(broken, AnalysisParams())
    b = analyze_file(clean, AnalysisParams())
    late = b.start > b.start.max() * 0.7
    assert np.allclose(a.start[-late.sum():], b.start[late], atol=1.0), "late onsets agree (ms)"


def test_too_many_bad_packets_fail_the_file(tmp_path: Path, tones: np.ndarray) -> None:
    long = np.tile(tones, 6)
    clean = write_media(tmp_path / "long.m4a", long, SR)
    broken = tmp_path / "rotten.m4a"
    corrupt_packets(clean, broken, MAX_BAD_PACKETS + 1)
    with pytest.raises(MediaError, match=f"more than {MAX_BAD_PACKETS} packets failed to decode"):
        decode(broken)


def test_the_analyze_stage_records_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tones: np.ndarray
) -> None:
    settings = configure(monkeypatch, tmp_path)
    folder = tmp_path / "media"
    folder.mkdir()
    nan_wav(folder / "nan.wav", tones)
    corrupt_packets(write_media(tmp_path / "clean.m4a", tones, SR), folder / "broken.m4a", 1)
    job = tmp_path / "faults.toml"
    job.write_text(f'name = "faults"\n[source]\nkind = "local"\nfolder = "{folder}"\n'
                   'patterns = ["*.wav", "*.m4a"]\n[analyze]\n')
    outcome = run_job(job, settings, console=Console(file=io.StringIO()))
    assert outcome.exit_code == 0, outcome.failures
    with session_scope(catalog(settings)) as session:
        rows = {f.name: (f.bad_packets, f.nonfinite_samples, f.samples)
                for f in session.scalars(select(File))}
    assert rows["nan.wav"][:2] == (0, 301) and rows["broken.m4a"][:2] == (1, 0)
    assert all(n and n >= 8 for _, _, n in rows.values())

"""Decode a media file's audio with PyAV: constant-memory blocks, or one seeked segment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from core.errors import MediaError

_PREROLL_S = 0.5  # decode this much before a seek target so codec priming settles
# AAC-LC encoders prepend 1024 samples of priming. MP4/MOV (edit list) and Matroska (CodecDelay)
# tell the demuxer, which drops them; ADTS, MPEG-TS and FLV cannot, so ffmpeg decodes them as
# audio and every time would be 23 ms late at 44.1 kHz. Drop them there ourselves.
_AAC_PRIMING = 1024
_NO_PRIMING_SIGNAL = frozenset({"aac", "mpegts", "flv", "latm", "loas"})
MAX_BAD_PACKETS = 50  # a file with more packets that fail to decode than this fails

log = logging.getLogger(__name__)


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's (or the OS's) reason for an error, without its errno and path."""
    return str(getattr(exc, "strerror", None) or exc)


@dataclass
class DecodeFaults:
    """What decoding had to repair: packets that failed to decode (skipped, their span left
    silent, up to MAX_BAD_PACKETS per file) and NaN or infinite samples (set to 0)."""

    bad_packets: int = 0
    nonfinite_samples: int = 0


_FAULTS: ContextVar[DecodeFaults | None] = ContextVar("decode_faults", default=None)


@contextmanager
def counting_faults() -> Iterator[DecodeFaults]:
    """Count the faults of every decode inside the block (e.g. to record them on the file)."""
    faults = DecodeFaults()
    token = _FAULTS.set(faults)
    try:
        yield faults
    finally:
        _FAULTS.reset(token)


def _faults() -> DecodeFaults:
    return _FAULTS.get() or DecodeFaults()  # outside counting_faults: repaired, not counted


def _finite(a: np.ndarray, path: str | Path) -> np.ndarray:
    """`a` with NaN and infinite samples set to 0, counted."""
    bad = ~np.isfinite(a)
    if bad.any():
        count = int(bad.sum())
        _faults().nonfinite_samples += count
        log.warning("%s: %d NaN or infinite sample(s) set to 0", path, count)
        a = np.where(bad, np.float32(0), a)
    return a


def _open(path: str | Path) -> tuple[av.container.InputContainer, av.audio.stream.AudioStream]:
    """Open a file and return it with its first audio stream, or raise MediaError."""
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open {path}: {ffmpeg_reason(exc)}") from exc
    if not container.streams.audio:
        container.close()
        raise MediaError(f"{path}: no audio stream")
    return container, container.streams.audio[0]


def _layout(channels: int) -> str:
    """Return the ffmpeg layout name for a channel count."""
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _silence(stream, packet) -> av.AudioFrame | None:
    """A silent frame as long as an undecodable packet, at its time (None: length unknown)."""
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate or not packet.duration or packet.time_base is None:
        return None
    n = round(float(packet.duration * packet.time_base) * rate)
    if n <= 0:
        return None
    layout = stream.codec_context.layout.name if stream.codec_context.layout else "mono"
    channels = stream.codec_context.channels or 1
    frame = av.AudioFrame.from_ndarray(np.zeros((channels, n), np.float32), format="fltp",
                                       layout=layout)
    frame.sample_rate = rate
    frame.pts, frame.time_base = packet.pts, packet.time_base
    return frame


def _frames(container, stream, path) -> Iterator[av.AudioFrame]:
    """Yield decoded audio frames. A packet that fails to decode is skipped, its span given as
    silence and counted (DecodeFaults); past MAX_BAD_PACKETS, or when demuxing fails, the file
    fails with a MediaError."""
    bad = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise MediaError(f"{path}: more than {MAX_BAD_PACKETS} packets failed to "
                                     f"decode (the last: {ffmpeg_reason(exc)})") from exc
                _faults().bad_packets += 1
                log.warning("%s: skipped a packet at %s that failed to decode: %s", path,
                            packet.pts, ffmpeg_reason(exc))
                silent = _silence(stream, packet)
                frames = [silent] if silent is not None else []
            yield from frames
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: decoding failed: {ffmpeg_reason(exc)}") from exc


def _priming_s(container, stream) -> float:
    """Return seconds of encoder priming at the stream's start that the demuxer left in."""
    cc = stream.codec_context
    formats = set(container.format.name.split(","))
    if cc.name == "aac" and cc.profile == "LC" and formats & _NO_PRIMING_SIGNAL and cc.sample_rate:
        return _AAC_PRIMING / cc.sample_rate
    return 0.0


def _stream_t0(stream) -> float:
    """Return the stream's start time in seconds (0 when unknown)."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


_BATCH_SAMPLES = 32768  # decoded samples handed to the resampler at once (~0.7 s at 44.1 kHz)


def _batched(frames: Iterator[av.AudioFrame], seen: list[int]) -> Iterator[av.AudioFrame]:
    """Yield the decoded frames merged into frames of about _BATCH_SAMPLES samples, pts unset;
    seen[0] counts the frames decoded.

    The resampler's cost is mostly per call (an AAC frame is only 1024 samples), so merging
    consecutive frames of the same format, layout and rate makes resampling ~3x cheaper; the
    resampler sees the same samples. Frames are merged in an AudioFifo (FFmpeg's, one copy in
    C, any sample format): merging through numpy (to_ndarray, concatenate, from_ndarray) cost
    as much CPU as resampling. A frame of another format, layout or rate starts a new batch.
    """
    fifo: av.AudioFifo | None = None
    key: tuple[str, str, int] = ("", "", 0)
    for frame in frames:
        seen[0] += 1
        k = (frame.format.name, frame.layout.name, frame.sample_rate)
        if fifo is not None and k != key:
            if fifo.samples:
                yield _drained(fifo)
            fifo = None
        if fifo is None:
            fifo, key = av.AudioFifo(), k
        frame.pts = None  # the fifo checks pts continuity; gaps/jitter are not ours
        fifo.write(frame)
        if fifo.samples >= _BATCH_SAMPLES:
            yield _drained(fifo)
    if fifo is not None and fifo.samples:
        yield _drained(fifo)


def _drained(fifo: av.AudioFifo) -> av.AudioFrame:
    """All samples held in a non-empty fifo as one frame, without a pts."""
    out = fifo.read()
    out.pts = None  # let the resampler count samples
    return out


def iter_audio_blocks(
    path: str | Path, *, sr: int = 22050, block_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yield the audio as mono float32 blocks of block_seconds at `sr`; memory is one block.

    Every block but the last has exactly round(block_seconds * sr) samples; the blocks
    concatenated are the whole decoded track, sample 0 being the stream's first sample.
    Channels are mixed down by ffmpeg's standard matrix (stereo: (L + R) / sqrt(2)).
    """
    block_n = max(1, round(block_seconds * sr))
    container, stream = _open(path)
    try:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        pending: list[np.ndarray] = []
        have = 0
        seen = [0]  # frames decoded
        skip = round(_priming_s(container, stream) * sr)  # output samples still to drop

        def take(out_frames) -> Iterator[np.ndarray]:
            nonlocal have, skip
            for of in out_frames:
                a = of.to_ndarray().reshape(-1)
                if skip and a.size:
                    a, skip = a[skip:], max(0, skip - a.size)
                if a.size:
                    pending.append(a)
                    have += a.size
            while have >= block_n:
                buf = np.concatenate(pending)
                yield _finite(np.ascontiguousarray(buf[:block_n], dtype=np.float32), path)
                rest = buf[block_n:]
                pending[:] = [rest] if rest.size else []
                have = rest.size

        for frame in _batched(_frames(container, stream, path), seen):
            yield from take(resampler.resample(frame))
        if not seen[0]:
            raise MediaError(f"{path}: audio stream holds no decodable frames")
        yield from take(resampler.resample(None))
        if have:
            yield _finite(np.concatenate(pending).astype(np.float32, copy=False), path)
    finally:
        container.close()


class SegmentReader:
    """Read many segments of one file without reopening it (e.g. a renderer's sample list).

    Use as a context manager; read() has read_segment's semantics.
    """

    def __init__(self, path: str | Path, *, sr: int = 22050, channels: int = 1) -> None:
        self.path, self.sr, self.channels = path, sr, channels
        self.container, self.stream = _open(path)
        self.t0 = _stream_t0(self.stream) + _priming_s(self.container, self.stream)
        self._fresh = True  # nothing read yet: position is the start, no seek needed

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self.container.close()

    def _seek(self, seek_s: float) -> None:
        """Seek backward to the packet at or before seek_s (stream time)."""
        if self._fresh and seek_s <= 0:
            return
        try:
            self.container.seek(int((self.t0 + seek_s) / self.stream.time_base),
                                stream=self.stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise MediaError(f"{self.path}: seek failed: {ffmpeg_reason(exc)}") from exc

    def read(self, start_s: float, dur_s: float) -> np.ndarray:
        """Decode dur_s seconds from start_s: (n,) if mono, else (channels, n)."""
        if dur_s < 0 or start_s < 0:
            raise ValueError("start_s and dur_s must be >= 0")
        sr, channels = self.sr, self.channels
        n_out = round(dur_s * sr)
        self._seek(max(0.0, start_s - _PREROLL_S))
        self._fresh = False
        resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=sr)
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        got, need = 0, 0
        for frame in _frames(self.container, self.stream, self.path):
            if first_t is None:
                pts = frame.pts
                first_t = float(pts * frame.time_base) - self.t0 if pts is not None else 0.0
                need = round((start_s - first_t) * sr) + n_out
            frame.pts = None
            for of in resampler.resample(frame):
                chunks.append(_finite(of.to_ndarray(), self.path))
                got += chunks[-1].shape[1]
            if got >= need + sr // 10:
                break
        else:
            for of in resampler.resample(None):
                chunks.append(_finite(of.to_ndarray(), self.path))
        out = np.zeros((channels, n_out), dtype=np.float32)
        if chunks and first_t is not None:
            audio = np.concatenate(chunks, axis=1)
            skip = round((start_s - first_t) * sr)
            src_lo, dst_lo = (skip, 0) if skip >= 0 else (0, -skip)
            take = max(0, min(n_out - dst_lo, audio.shape[1] - src_lo))
            out[:, dst_lo : dst_lo + take] = audio[:, src_lo : src_lo + take]
        return out[0] if channels == 1 else out


def read_segment(
    path: str | Path, start_s: float, dur_s: float, *, sr: int = 22050, channels: int = 1
) -> np.ndarray:
    """Seek to start_s and decode dur_s seconds: (n,) for mono, (channels, n) otherwise.

    Always returns exactly round(dur_s * sr) samples per channel (zeros past the end of the
    audio). Times count from the stream's start, as in iter_audio_blocks; the position is
    exact to the container's timestamp precision (1 ms in Matroska, a sample in mp4/wav/flac).
    For many segments of one file, SegmentReader avoids reopening it.
    """
    if dur_s < 0 or start_s < 0:
        raise ValueError("start_s and dur_s must be >= 0")
    with SegmentReader(path, sr=sr, channels=channels) as reader:
        return reader.read(start_s, dur_s)

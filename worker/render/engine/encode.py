"""H.264 segments from yuv420p buffers, joined without re-encoding and muxed with the audio.

Each chunk of a render is encoded on its own into a segment that starts with an IDR frame
(closed GOPs: x264's default, and a fresh encoder per chunk), with a fixed thread count, so the
bytes of a segment depend only on its frames and the settings, never on which worker ran it or
how many there were. `join_segments` copies the segments' packets, shifted to their place on
the timeline, into one mp4 and interleaves the AAC of the mixed audio.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.errors import ConfigError, MediaError
from worker.render.parts import part_path, sweep_parts

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")
AAC_BIT_RATE = 192_000


@dataclass(frozen=True)
class VideoCodec:
    """How frames are encoded: x264 preset and CRF, GOP length, fixed thread count."""

    preset: str = "veryfast"
    crf: int = 20
    gop_s: float = 4.0  # keyframe interval inside a chunk (a chunk always starts with one)
    threads: int = 2  # slices encoded in parallel: fixed, so the bytes never depend on timing

    def __post_init__(self) -> None:
        """Reject settings x264 would refuse or that make output machine-dependent."""
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {self.preset!r}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be 0..51, got {self.crf}")
        if not 1 <= self.threads <= 16 or self.gop_s <= 0:
            raise ConfigError("threads must be 1..16 and gop_s > 0")

    def options(self, fps: int) -> dict[str, str]:
        """libx264 options: preset, crf, closed GOPs of gop_s, deterministic threading."""
        keyint = max(1, round(self.gop_s * fps))
        # one thread: no slice threads and no lookahead thread (x264 runs in the caller's
        # thread); more: that many slices, encoded in parallel
        threading = ("threads=1:lookahead-threads=1:sliced-threads=0" if self.threads == 1
                     else f"threads={self.threads}:sliced-threads=1")
        return {"preset": self.preset, "crf": str(self.crf),
                "x264-params": f"keyint={keyint}:min-keyint={min(keyint, fps)}:"
                               f"open-gop=0:{threading}"}


_M_MMAP_THRESHOLD, _M_PERTURB = -3, -6
_malloc_pinned = False


def pin_malloc() -> None:
    """Make the bytes x264 produces independent of what the process did before (glibc only).

    libx264, as PyAV drives it, reads a few bytes of memory it never wrote at some frame sizes
    (seen at 192x112 and 448x256: the same frames gave different packets in the second encoder
    of a process). Fresh heap memory then carries whatever was freed there before, so a chunk's
    bytes would depend on the worker's history. glibc's M_PERTURB fills every allocation with a
    fixed byte, and a fixed mmap threshold stops large blocks from moving between mmap (zeroed)
    and the heap (perturbed), so that memory always reads the same. Costs a memset per malloc.
    """
    global _malloc_pinned
    if _malloc_pinned:
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to pin (and no such reads seen elsewhere)
    mallopt(_M_MMAP_THRESHOLD, 4 << 20)
    mallopt(_M_PERTURB, 0xA5)
    _malloc_pinned = True


class SegmentWriter:
    """Encode yuv420p buffers into one mp4 segment, written to a temporary name until closed."""

    def __init__(self, path: Path, width: int, height: int, fps: int, codec: VideoCodec) -> None:
        """Open the segment for writing."""
        pin_malloc()
        self.path = Path(path)
        # per process: a run that lost its lease may still be writing while another redoes it
        self.tmp = part_path(self.path)
        self.width, self.height, self.fps = width, height, fps
        self.container = av.open(str(self.tmp), "w", format="mp4",
                                 options={"fflags": "+bitexact"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, fps)
        self.stream.codec_context.time_base = Fraction(1, fps)
        self.stream.options = codec.options(fps)
        self.stream.codec_context.flags |= av.codec.context.Flags.bitexact
        self.frames = 0

    def write(self, buf: np.ndarray) -> None:
        """Encode one yuv420p buffer of shape (height * 3 // 2, width)."""
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for pkt in self.stream.encode(frame):
            self.container.mux(pkt)
        self.frames += 1

    def close(self, ok: bool = True) -> Path:
        """Flush and finish the segment, moving it onto its name (or deleting it if not ok)."""
        try:
            if ok:
                for pkt in self.stream.encode(None):
                    self.container.mux(pkt)
        finally:
            self.container.close()
        if not ok:
            self.tmp.unlink(missing_ok=True)
            return self.path
        os.replace(self.tmp, self.path)
        sweep_parts(self.path)  # what killed writers of this segment left
        return self.path

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def encode_segment(path: Path, frames: Iterable[np.ndarray], width: int, height: int, fps: int,
                   codec: VideoCodec) -> int:
    """Encode every buffer from `frames` into the segment at path; return the frame count."""
    with SegmentWriter(path, width, height, fps, codec) as seg:
        for buf in frames:
            seg.write(buf)
    return seg.frames


def _aac_packets(container: av.container.OutputContainer, audio: np.ndarray, sr: int):
    """Add an AAC stream for (2, n) float audio and return (stream, its packets)."""
    stream = container.add_stream("aac", rate=sr)
    stream.layout = "stereo"
    stream.bit_rate = AAC_BIT_RATE
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    packets = []
    block = 1024 * 16
    a = np.ascontiguousarray(np.clip(audio, -1.0, 1.0).astype(np.float32))
    for i in range(0, a.shape[1], block):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(a[:, i : i + block]),
                                           format="fltp", layout="stereo")
        frame.sample_rate = sr
        frame.pts = i
        frame.time_base = Fraction(1, sr)
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return stream, packets


def join_segments(segments: Sequence[Path], out: Path, *, audio: np.ndarray | None = None,
                  sr: int = 48_000) -> int:
    """Concatenate H.264 mp4 segments (same settings) into out, with AAC audio if given.

    Packets are copied, not re-encoded; each segment's timestamps move by the frames before it.
    Returns the number of video frames written.
    """
    if not segments:
        raise ConfigError("no segments to join")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.part")
    with av.open(str(segments[0])) as first, \
            av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"}) as dst:
        template = first.streams.video[0]
        tb = template.time_base
        fps = template.average_rate or template.guessed_rate
        width = template.codec_context.width
        vout = dst.add_stream_from_template(template)
        apackets: list = []
        aout = None
        if audio is not None:
            if audio.ndim != 2 or audio.shape[0] != 2:
                raise ConfigError("audio to mux must be (2, n) stereo")
            aout, apackets = _aac_packets(dst, audio, sr)
        frames = 0
        ai = 0
        for seg in segments:
            with av.open(str(seg)) as src:
                vin = src.streams.video[0]
                if vin.time_base != tb or vin.codec_context.width != width:
                    raise MediaError(f"segment {seg} does not match the first segment")
                shift = round(frames / fps / tb)
                for pkt in src.demux(vin):
                    if pkt.size == 0:
                        continue
                    pkt.pts += shift
                    pkt.dts += shift
                    t = float(pkt.dts * tb)
                    while ai < len(apackets) and float(apackets[ai].pts
                                                       * apackets[ai].time_base) <= t:
                        apackets[ai].stream = aout
                        dst.mux(apackets[ai])
                        ai += 1
                    pkt.stream = vout
                    dst.mux(pkt)
                    frames += 1
        for pkt in apackets[ai:]:
            pkt.stream = aout
            dst.mux(pkt)
    os.replace(tmp, out)
    return frames

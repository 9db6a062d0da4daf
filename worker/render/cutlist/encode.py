"""An mp4 writer: H.264 yuv420p picture and AAC audio through PyAV, deterministic bytes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.codec.context import Flags
from av.video.frame import PictureType

from core.errors import ConfigError

AUDIO_FRAME = 1024  # AAC frame size: audio is sent to the encoder in blocks of this many samples


class AVWriter:
    """Write video frames and (channels, n) float audio to `out` via a temporary file.

    Frames are `av.VideoFrame`s (any size or format; converted when needed) or uint8 arrays
    (h, w, 3) RGB. The same inputs and settings give the same bytes: fixed encoder threads,
    bit-exact flags, no timestamps of the wall clock.
    """

    def __init__(self, out: Path, *, fps: Fraction | float, size: tuple[int, int],
                 sr: int = 48000, channels: int = 2, audio: bool = True, crf: float = 20.0,
                 preset: str = "veryfast", threads: int = 2,
                 audio_bit_rate: int = 160_000) -> None:
        """Open a temporary mp4 beside `out`; size is (width, height), both even."""
        self.out = Path(out)
        if self.out.suffix.lower() not in (".mp4", ".mov", ".mkv"):
            raise ConfigError(f"video output must end in .mp4, .mov or .mkv: {self.out.name!r}")
        w, h = size
        if w < 16 or h < 16 or w % 2 or h % 2:
            raise ConfigError(f"video size must be even and at least 16x16, got {w}x{h}")
        self.fps = Fraction(fps).limit_denominator(1001000)
        self.size, self.sr, self.channels = (w, h), sr, channels
        self.tmp = self.out.with_name(f".{self.out.stem}.part{self.out.suffix}")
        self.container = av.open(str(self.tmp), "w", options={"fflags": "+bitexact"})
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        vs = self.container.add_stream(codec, rate=self.fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.thread_count = threads
        vs.codec_context.flags |= int(Flags.bitexact)
        if codec == "libx264":
            vs.options = {"crf": f"{crf:g}", "preset": preset}
        self.video = vs
        self.audio = None
        if audio:
            ac = self.container.add_stream("aac", rate=sr)
            ac.layout = "mono" if channels == 1 else "stereo"
            ac.bit_rate = audio_bit_rate
            ac.options = {"aac_coder": "fast"}  # 3x the default twoloop coder's speed
            ac.codec_context.flags |= int(Flags.bitexact)
            self.audio = ac
        self.frames = 0
        self.samples = 0
        self._last: av.VideoFrame | np.ndarray | None = None
        self._pending = np.zeros((channels, 0), np.float32)

    def __enter__(self) -> AVWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(ok=kind is None)

    def write_frame(self, frame: av.VideoFrame | np.ndarray) -> None:
        """Append one picture; it is scaled to the output size if it differs."""
        w, h = self.size
        if isinstance(frame, av.VideoFrame) and frame is self._last:  # the encoder may hold it
            frame = av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
        self._last = frame
        if isinstance(frame, np.ndarray):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if frame.width != w or frame.height != h or frame.format.name != "yuv420p":
            frame = frame.reformat(width=w, height=h, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = 1 / self.fps
        frame.pict_type = PictureType.NONE  # a decoded keyframe must not force one here
        for pkt in self.video.encode(frame):
            self.container.mux(pkt)
        self.frames += 1

    def write_audio(self, block: np.ndarray) -> None:
        """Append (channels, n) float audio (clipped to [-1, 1]) in AAC-sized frames."""
        if self.audio is None:
            return
        block = np.asarray(block, np.float32).reshape(self.channels, -1)
        buf = np.concatenate([self._pending, np.clip(block, -1.0, 1.0)], axis=1)
        n = buf.shape[1] // AUDIO_FRAME * AUDIO_FRAME
        for i in range(0, n, AUDIO_FRAME):
            self._encode_audio(buf[:, i : i + AUDIO_FRAME])
        self._pending = buf[:, n:]

    def _encode_audio(self, chunk: np.ndarray) -> None:
        """Send one block of audio to the encoder."""
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                           layout=self.audio.layout.name)
        frame.sample_rate = self.sr
        frame.pts = self.samples
        frame.time_base = Fraction(1, self.sr)
        for pkt in self.audio.encode(frame):
            self.container.mux(pkt)
        self.samples += chunk.shape[1]

    def close(self, ok: bool = True) -> None:
        """Flush the encoders and move the file onto `out`, or delete it when not ok."""
        try:
            if ok:
                if self.audio is not None:
                    if self._pending.shape[1]:
                        self._encode_audio(self._pending)
                    for pkt in self.audio.encode(None):
                        self.container.mux(pkt)
                for pkt in self.video.encode(None):
                    self.container.mux(pkt)
        finally:
            self.container.close()
            if ok:
                self.tmp.replace(self.out)
            else:
                self.tmp.unlink(missing_ok=True)

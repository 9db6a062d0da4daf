"""Streaming audio file writers chosen by suffix: wav/flac via soundfile, mp3 via PyAV."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from core.errors import ConfigError

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3"}
MP3_BIT_RATE = 192_000


class AudioWriter:
    """Write (channels, n) float blocks to a temporary file, renamed onto `out` on success."""

    def __init__(self, out: Path, sr: int, channels: int) -> None:
        """Open the temporary output; the format follows out's suffix."""
        self.out = Path(out)
        suffix = self.out.suffix.lower()
        if suffix not in FORMATS:
            raise ConfigError(f"output must end in .wav, .flac or .mp3, got {self.out.name!r}")
        self.sr, self.channels, self.suffix = sr, channels, suffix
        self.tmp = self.out.with_name(f".{self.out.stem}.part{suffix}")
        self.frames = 0
        self._sf = None
        self._av = None
        self._stream = None
        if suffix == ".mp3":
            import av

            self._av = av.open(str(self.tmp), "w", format="mp3")
            self._stream = self._av.add_stream("libmp3lame", rate=sr)
            self._stream.layout = "mono" if channels == 1 else "stereo"
            self._stream.bit_rate = MP3_BIT_RATE
        else:
            import soundfile as sf

            self._sf = sf.SoundFile(
                str(self.tmp),
                "w",
                samplerate=sr,
                channels=channels,
                format=FORMATS[suffix],
                subtype="PCM_16",
            )

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, n) float block, clipped to [-1, 1]."""
        if block.shape[1] == 0:
            return
        block = np.clip(block, -1.0, 1.0).astype(np.float32)
        if self._sf is not None:
            self._sf.write(block.T)
        else:
            import av

            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block), format="fltp", layout=self._stream.layout.name
            )
            frame.sample_rate = self.sr
            frame.pts = self.frames
            frame.time_base = Fraction(1, self.sr)
            for pkt in self._stream.encode(frame):
                self._av.mux(pkt)
        self.frames += block.shape[1]

    def close(self, ok: bool = True) -> None:
        """Finish the file and move it onto `out`, or delete it when not ok."""
        try:
            if self._sf is not None:
                self._sf.close()
            elif self._av is not None:
                if ok:
                    for pkt in self._stream.encode(None):
                        self._av.mux(pkt)
                self._av.close()
        finally:
            if ok:
                os.replace(self.tmp, self.out)
            else:
                self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AudioWriter:
        """Context manager entry."""
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Keep the file on success, remove the partial file on error."""
        self.close(ok=et is None)

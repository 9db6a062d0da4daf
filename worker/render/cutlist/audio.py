"""Join audio pieces end to end with short equal-power crossfades that keep the timeline.

Each piece brings `xfade` extra samples read past its end; they fade out over the start of
the next piece while it fades in, so joins do not click and the output length is exactly
the sum of the pieces' lengths (picture and sound stay in sync).
"""

from __future__ import annotations

import numpy as np


def fade_curves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power fade-in and fade-out of n samples (sin² + cos² = 1)."""
    t = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
    return np.sin(t * np.pi / 2).astype(np.float32), np.cos(t * np.pi / 2).astype(np.float32)


class CrossfadeJoiner:
    """Stream pieces through: add() returns the samples ready to write for each piece."""

    def __init__(self, channels: int, xfade: int) -> None:
        """Join `channels`-channel audio with crossfades of `xfade` samples (0: hard cuts)."""
        self.channels, self.xfade = channels, max(0, int(xfade))
        self._tail: np.ndarray | None = None

    def add(self, audio: np.ndarray, length: int) -> np.ndarray:
        """Take a piece of `length` samples (plus up to xfade more); return its output samples."""
        audio = np.asarray(audio, np.float32).reshape(self.channels, -1)
        out = np.zeros((self.channels, length), np.float32)
        body = audio[:, :length]
        out[:, : body.shape[1]] = body
        if self._tail is not None and self._tail.shape[1] and length:
            n = min(self._tail.shape[1], length)
            fade_in, fade_out = fade_curves(n)
            out[:, :n] = out[:, :n] * fade_in + self._tail[:, :n] * fade_out
        self._tail = audio[:, length : length + self.xfade] if self.xfade else None
        return out

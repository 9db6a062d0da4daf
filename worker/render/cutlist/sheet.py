"""A contact sheet of a video: evenly spaced frames tiled into one PNG, to look at a render."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from core.errors import MediaError


def contact_sheet(video: Path, out: Path, *, frames: int = 12, columns: int = 4,
                  width: int = 320) -> Path:
    """Write `frames` evenly spaced frames of `video` (one pass, downscaled) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        with av.open(str(video)) as c:
            vs = c.streams.video[0]
            total = vs.frames or 1
            want = set(np.linspace(0, max(0, total - 1), frames).round().astype(int).tolist())
            tiles = []
            for i, frame in enumerate(c.decode(vs)):
                if i in want:
                    h = round(frame.height * width / frame.width / 2) * 2
                    tiles.append(frame.to_ndarray(format="rgb24", width=width, height=h))
    except (av.FFmpegError, IndexError) as exc:
        raise MediaError(f"cannot read frames of {video}: {exc}") from exc
    if not tiles:
        raise MediaError(f"{video}: no frames")
    rows = -(-len(tiles) // columns)
    h, w = tiles[0].shape[:2]
    sheet = np.zeros((rows * (h + 4), columns * (w + 4), 3), np.uint8)
    for k, tile in enumerate(tiles):
        r, col = divmod(k, columns)
        sheet[r * (h + 4) : r * (h + 4) + h, col * (w + 4) : col * (w + 4) + w] = tile
    plt.imsave(out, sheet)
    return out

"""One space's frame-map t-SNE in a process of its own: `python -m worker.frames.tsne_child
FOLDER SPACE PARAMS_JSON THREADS` reads FOLDER/SPACE.npy and writes FOLDER/SPACE.out.npy.

A separate interpreter (not multiprocessing) because a Celery worker's pool child may not
start multiprocessing children, and openTSNE holds the GIL, so threads do not overlap. The
child dies with its parent (Linux PR_SET_PDEATHSIG), so a killed render leaves no t-SNE behind.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits; exit now if it already has."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        sys.exit(3)


def main(argv: list[str]) -> int:
    """Run the t-SNE of one space and save its (n, 2) layout."""
    from worker.frames.framemap import FrameMapParams, embed

    folder, space, params, threads, parent = (Path(argv[0]), argv[1], json.loads(argv[2]),
                                              int(argv[3]), int(argv[4]))
    die_with_parent(parent)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    x = np.load(folder / f"{space}.npy")
    y = embed(x, "tsne", FrameMapParams(**params), threads=threads)
    tmp = folder / f"{space}.out.part.npy"
    np.save(tmp, y)
    os.replace(tmp, folder / f"{space}.out.npy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

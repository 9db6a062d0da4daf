"""A finding of the chaos suite, reproduced on its own (marked `chaos`; a few seconds): a grid
render's chunk run SIGKILLed while it writes its segment leaves `.<segment>.<pid>.part` behind
for good. Since d9ed8cc segments are written under a per-process temporary name, so the run
that redoes the chunk writes its own file and never removes the dead run's (the chaos run at
100 films, seed 17, left `work/job-1/rings/segments/.00006.mp4.18522.part`). The same pattern:
`.mix.npy.<pid>.part` (gridvideo.render_mix), `.<name>.<pid>.part` (gridvideo._write_json),
`.frames.<pid>.part` and `sources/.<n>.json.<pid>.part` (render/clipcache.py).

Fixed in f59b46b: whoever renames the segment into place sweeps the dead runs' parts
(worker/render/parts.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from worker.render.engine.encode import VideoCodec, encode_segment

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

W, H, FPS = 64, 48, 24


def _frames(n: int):  # type: ignore[no-untyped-def]
    """n grey yuv420p buffers."""
    for i in range(n):
        yield np.full((H * 3 // 2, W), (i * 9) % 256, np.uint8)


def test_a_killed_segment_writer_leaves_no_part_once_redone(tmp_path: Path) -> None:
    """A process writes half a segment and is SIGKILLed; the segment is then written again
    (as the chunk's next run does): the folder holds the segment and nothing else."""
    out = tmp_path / "segments" / "00006.mp4"
    out.parent.mkdir()
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from pathlib import Path
        from worker.render.engine.encode import SegmentWriter, VideoCodec
        w = SegmentWriter(Path({str(out)!r}), {W}, {H}, {FPS}, VideoCodec(preset="ultrafast"))
        for i in range(30):
            w.write(np.full(({H} * 3 // 2, {W}), i, np.uint8))
        w.container.flush() if hasattr(w.container, "flush") else None
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-500:]
    assert any(p.name.endswith(".part") for p in out.parent.iterdir()), "nothing half-written"
    assert encode_segment(out, _frames(30), W, H, FPS, VideoCodec(preset="ultrafast")) == 30
    assert sorted(p.name for p in out.parent.iterdir()) == ["00006.mp4"]

"""Temporary files written per process, `.<name>.<pid>.part`, then renamed onto `<name>`.

A run that lost its lease may still be writing while another redoes its work, so each writes
its own temporary file; the finished file lands by an atomic rename. A writer that is killed
leaves its part behind, so whoever puts the file in place sweeps the parts of processes that
are gone (`sweep_parts`).
"""

from __future__ import annotations

import os
from pathlib import Path


def part_path(path: Path) -> Path:
    """This process's temporary name for `path`."""
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def _alive(pid: int) -> bool:
    """True when a process with this id runs on this host (not this one: it is done here)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_parts(path: Path) -> int:
    """Delete the `.<name>.<pid>.part` siblings of `path` left by processes that are gone;
    returns how many. A live writer's part is left alone."""
    prefix = f".{path.name}."
    removed = 0
    for p in path.parent.glob(f"{prefix}*.part"):
        pid = p.name[len(prefix):-len(".part")]
        if pid.isdigit() and not _alive(int(pid)):
            p.unlink(missing_ok=True)
            removed += 1
    return removed

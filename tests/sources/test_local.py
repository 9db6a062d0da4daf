"""list_local: glob patterns, sorted and deduplicated, files only, symlinks kept inside."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.errors import ConfigError, UnsafePathError
from worker.sources.local import list_local, md5_file, path_metadata, require_inside


@pytest.fixture
def coll(tmp_path: Path) -> Path:
    """A folder with nested media, non-media, a dir named like media, and assorted links."""
    root = tmp_path / "coll"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "dir.mp4").mkdir()  # a directory matching the pattern: not a file
    (root / "z.mp4").write_bytes(b"z" * 10)
    (root / "a" / "one.mp4").write_bytes(b"1")
    (root / "b" / "deep" / "two.mp4").write_bytes(b"22")
    (root / "b" / "notes.txt").write_text("x")
    (root / "b" / "three.ogv").write_bytes(b"333")
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"out")
    os.symlink(outside, root / "escape.mp4")  # leads out of the folder
    os.symlink(root / "z.mp4", root / "b" / "alias.mp4")  # a second name for z.mp4
    os.symlink(tmp_path / "nothing", root / "dangling.mp4")
    return root


def test_lists_sorted_deduplicated_inside(coll: Path) -> None:
    """Recursive patterns, union of patterns, each real file once, links out and dirs skipped."""
    found = list(list_local(coll, ["**/*.mp4", "*.mp4", "**/*.ogv"]))
    assert [f.relpath for f in found] == [
        "a/one.mp4",
        "b/alias.mp4",
        "b/deep/two.mp4",
        "b/three.ogv",
    ]
    alias = found[1]
    assert alias.path == (coll / "z.mp4").resolve() and alias.size == 10
    two = found[2]
    assert two.metadata == {
        "folders": ["b", "deep"],
        "folder": "b/deep",
        "stem": "two",
        "suffix": ".mp4",
        "title": "two",
    }
    assert two.size == 2 and two.mtime == (coll / "b" / "deep" / "two.mp4").stat().st_mtime
    assert all(f.path.is_absolute() for f in found)


def test_top_level_pattern_and_outside_allowed(coll: Path) -> None:
    """A non-recursive pattern only sees the top; allow_outside admits links leaving the folder."""
    assert [f.relpath for f in list_local(coll, ["*.mp4"])] == ["z.mp4"]
    names = [f.relpath for f in list_local(coll, ["*.mp4"], allow_outside=True)]
    assert names == ["escape.mp4", "z.mp4"]


def test_missing_folder_and_bad_patterns(tmp_path: Path) -> None:
    """A missing folder is a ConfigError naming it; patterns must stay inside."""
    with pytest.raises(ConfigError, match="nope"):
        list(list_local(tmp_path / "nope", ["*.mp4"]))
    with pytest.raises(ConfigError):
        list(list_local(tmp_path, ["../*.mp4"]))
    with pytest.raises(ConfigError):
        list(list_local(tmp_path, ["/etc/*"]))


def test_md5_file_and_helpers(tmp_path: Path) -> None:
    """md5_file matches hashlib for sizes around the chunk; require_inside refuses escapes."""
    for n in (0, 5, 1 << 20, (1 << 20) + 3):
        p = tmp_path / f"f{n}"
        data = os.urandom(n)
        p.write_bytes(data)
        assert md5_file(p) == hashlib.md5(data).hexdigest() == md5_file(p, chunk=7)
    assert path_metadata("x.MP4")["folders"] == [] and path_metadata("x.MP4")["suffix"] == ".mp4"
    assert require_inside(tmp_path, tmp_path / "f0") == (tmp_path / "f0").resolve()
    with pytest.raises(UnsafePathError):
        require_inside(tmp_path / "sub", tmp_path / "f0")

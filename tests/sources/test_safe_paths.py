"""safe_media_path keeps every remote (identifier, name) inside the media directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnsafePathError
from worker.sources.paths import safe_media_path

GOOD = [
    ("film1", "film1.mp4", "film1/film1.mp4"),
    ("film1", "sub/dir/clip 1.mp4", "film1/sub/dir/clip 1.mp4"),
    ("Ident_2.x-y", "Ünïcode – name.ogv", "Ident_2.x-y/Ünïcode – name.ogv"),
    ("film1", "a..b.mp4", "film1/a..b.mp4"),
    ("film1", "time 10:20.mp4", "film1/time 10:20.mp4"),
]
BAD_NAMES = [
    "../escape.mp4",
    "sub/../../escape.mp4",
    "..",
    ".",
    "/etc/passwd",
    "//server/share.mp4",
    "C:\\Windows\\x.mp4",
    "C:x.mp4",
    "a\\..\\b.mp4",
    "dir\\file.mp4",
    "a//b.mp4",
    "trailing/",
    "",
    "nul\x00byte.mp4",
    "tab\tname.mp4",
    "line\nbreak.mp4",
    "del\x7f.mp4",
    "bidi\u202eevil4pm.exe",
    "zero\u200bwidth.mp4",
    "bom\ufeff.mp4",
    "sep\u2028line.mp4",
    "x" * 256 + ".mp4",
]


@pytest.mark.parametrize(("ident", "name", "rel"), GOOD)
def test_good_names_map_inside(tmp_path: Path, ident: str, name: str, rel: str) -> None:
    """Ordinary archive.org names, including sub-folders and Unicode, map below media_dir."""
    assert safe_media_path(tmp_path, ident, name) == tmp_path.resolve() / rel


def test_names_are_nfc_normalised(tmp_path: Path) -> None:
    """A decomposed name lands on the same path as its composed form."""
    decomposed = "Cafe\u0301.mp4"
    assert safe_media_path(tmp_path, "i", decomposed).name == "Café.mp4"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_refused(tmp_path: Path, name: str) -> None:
    """Traversal, absolute paths, drives, backslashes, control and format characters: refused."""
    with pytest.raises(UnsafePathError):
        safe_media_path(tmp_path, "film1", name)


@pytest.mark.parametrize("ident", ["..", ".", "", "a/b", "/abs", "..\\x", "id\x00", "C:"])
def test_bad_identifiers_refused(tmp_path: Path, ident: str) -> None:
    """The identifier is one safe path component."""
    with pytest.raises(UnsafePathError):
        safe_media_path(tmp_path, ident, "f.mp4")


def test_symlink_out_of_media_dir_refused(tmp_path: Path) -> None:
    """A symlink planted inside media_dir that points outside cannot be written through."""
    media = tmp_path / "media"
    outside = tmp_path / "outside"
    (media / "film1").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, media / "film1" / "sub")
    os.symlink(outside, media / "evil")
    with pytest.raises(UnsafePathError):
        safe_media_path(media, "film1", "sub/x.mp4")
    with pytest.raises(UnsafePathError):
        safe_media_path(media, "evil", "x.mp4")


def test_media_dir_itself_may_be_a_symlink(tmp_path: Path) -> None:
    """A symlinked data dir is fine: only links below it are refused."""
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    assert safe_media_path(tmp_path / "link", "i", "f.mp4") == real.resolve() / "i" / "f.mp4"


_alphabet = st.characters(codec="utf-8")


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ident=st.text(_alphabet, max_size=12), name=st.text(_alphabet, max_size=40))
def test_property_never_escapes(tmp_path: Path, ident: str, name: str) -> None:
    """For any strings: either refused, or a path strictly inside media_dir/identifier."""
    media = tmp_path / "m"
    try:
        p = safe_media_path(media, ident, name)
    except UnsafePathError:
        return
    root = Path(os.path.realpath(media))
    assert p.is_relative_to(root / p.relative_to(root).parts[0])
    assert len(p.relative_to(root).parts) >= 2
    assert ".." not in p.parts
    assert Path(os.path.normpath(p)) == p


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.sampled_from(["..", ".", "a", "", "b.mp4", "/", "\\"]), max_size=6))
def test_property_traversal_pieces(tmp_path: Path, parts: list[str]) -> None:
    """Names built from traversal pieces are refused or stay inside."""
    name = "/".join(parts)
    try:
        p = safe_media_path(tmp_path, "i", name)
    except UnsafePathError:
        return
    assert p.is_relative_to(tmp_path.resolve() / "i")
    assert ".." not in p.parts and "." not in p.parts

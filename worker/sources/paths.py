"""Map remote (identifier, file name) pairs to paths that cannot escape the media directory."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from core.errors import UnsafePathError

# Unicode categories refused anywhere in a name: controls, format chars (bidi overrides,
# zero-width joiners, BOM), surrogates, private use, unassigned, line/paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_PART_BYTES = 255


def _check_part(part: str, whole: str) -> None:
    """Refuse one path component that is empty, '.', '..' or too long for a file system."""
    if part in ("", ".", ".."):
        raise UnsafePathError(f"unsafe path {whole!r}: empty, '.' or '..' component")
    if len(part.encode("utf-8")) > _MAX_PART_BYTES:
        raise UnsafePathError(f"unsafe path {whole!r}: component longer than 255 bytes")


def clean_relpath(text: str, *, what: str = "name") -> str:
    """Return `text` NFC-normalised as a '/'-separated relative path, or raise UnsafePathError."""
    if not isinstance(text, str) or not text:
        raise UnsafePathError(f"unsafe {what}: empty")
    norm = unicodedata.normalize("NFC", text)
    for ch in norm:
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            code = f"U+{ord(ch):04X}"
            raise UnsafePathError(f"unsafe {what} {text!r}: control/format character {code}")
    if "\\" in norm:
        raise UnsafePathError(f"unsafe {what} {text!r}: backslash")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafePathError(f"unsafe {what} {text!r}: absolute path or drive letter")
    for part in norm.split("/"):
        _check_part(part, text)
    return norm


def safe_media_path(media_dir: Path, identifier: str, name: str) -> Path:
    """Return `<media_dir>/<identifier>/<name>`, refusing anything that could land outside it."""
    ident = clean_relpath(identifier, what="identifier")
    if "/" in ident:
        raise UnsafePathError(f"unsafe identifier {identifier!r}: contains '/'")
    rel = clean_relpath(name, what="file name")
    root = Path(os.path.realpath(media_dir))
    candidate = root / ident / rel
    # Resolve symlinks along the existing part of the path: a planted link must not lead out.
    resolved = Path(os.path.realpath(candidate))
    if not resolved.is_relative_to(root):
        raise UnsafePathError(f"unsafe path {identifier!r}/{name!r}: resolves outside {root}")
    if resolved != candidate:
        raise UnsafePathError(f"unsafe path {identifier!r}/{name!r}: passes through a symlink")
    return candidate

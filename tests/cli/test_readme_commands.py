"""The README's command list matches `samplemill --help`: every command is there, and nothing
that is not a command."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_command() -> None:
    text = README.read_text()
    block = text.split("## Commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"^samplemill ([a-z][a-z-]*)", block, re.M))
    assert listed == set(main.commands), (
        f"missing from the README: {sorted(set(main.commands) - listed)}; "
        f"not commands: {sorted(listed - set(main.commands))}"
    )

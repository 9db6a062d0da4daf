"""How a command's errors reach people: one clear line on stderr and exit status 2, never a
traceback. Every samplemill command and group is built on these classes."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from rich.console import Console

from core.errors import SamplemillError

err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: message` and exit with `code`."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    sys.exit(code)


class Command(click.Command):
    """A command whose samplemill errors are one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SamplemillError as exc:
            fail(str(exc))


class Group(click.Group):
    """A group whose commands' samplemill errors are one line and exit 2."""

    command_class = Command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SamplemillError as exc:
            fail(str(exc))


Group.group_class = Group

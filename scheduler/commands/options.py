"""Command-line options made from parameter models, so a default is written once: in the model."""

from __future__ import annotations

from typing import Any

import click
from pydantic import BaseModel


def model_option(model: type[BaseModel], field: str, *decls: str, **kwargs: Any) -> Any:
    """A click option for one field of a parameter model: its default and help come from the
    model (the option's own default is None, meaning "the model's")."""
    info = model.model_fields[field]
    default = "" if info.default is None else f"  [default: {info.default!r}]"
    help_text = (info.description or "") + default
    return click.option(*decls, field, default=None, help=help_text.strip(), **kwargs)


def given(knobs: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave (the rest keep the model's defaults)."""
    return {k: v for k, v in knobs.items() if v is not None}

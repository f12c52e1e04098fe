"""Output formats: one module per format, each a pure ``render(decision) -> str``.

Formatters do no I/O and never mutate the decision; the CLI decides where the text goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from ..decision import Decision
from ..errors import ConfigError

__all__ = ["Format", "RenderOptions", "parse_format", "render"]


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    width: int = 120


def parse_format(name: str) -> Format:
    """An output format by name; an unknown one is an error, never a silent fallback."""
    try:
        return Format(name)
    except ValueError:
        options = ", ".join(f.value for f in Format)
        raise ConfigError(f"unknown output format {name!r}; choose one of: {options}") from None


def render(fmt: Format, decision: Decision, options: RenderOptions | None = None) -> str:
    opts = options or RenderOptions()
    if fmt is Format.TEXT:
        from . import text

        return text.render(decision, color=opts.color, width=opts.width)
    if fmt is Format.JSON:
        from . import json as json_format

        return json_format.render(decision)
    assert_never(fmt)

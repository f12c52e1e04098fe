"""Output formats: one module per format, each a pure ``render(decision) -> str``.

Formatters do no I/O and never mutate the decision; the CLI decides where the text goes.
``text`` and ``json`` are for people and programs; ``junit``, ``sarif``, ``github`` and
``markdown`` are for CI (test reports, code scanning, annotations, the job summary). SARIF and
GitHub annotations point at lines of the spec when ``RenderOptions.locations`` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from ..dataclass_methods import shared_methods
from ..decision import Decision
from ..errors import ConfigError
from ..record import DecisionRecord
from .locations import SpecLocations

__all__ = ["Format", "RenderOptions", "SpecLocations", "parse_format", "render"]


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    SARIF = "sarif"
    GITHUB = "github"
    MARKDOWN = "markdown"


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class RenderOptions:
    color: bool = False
    width: int = 120
    locations: SpecLocations = field(default_factory=SpecLocations)


def parse_format(name: str) -> Format:
    """An output format by name; an unknown one is an error, never a silent fallback."""
    try:
        return Format(name)
    except ValueError:
        options = ", ".join(f.value for f in Format)
        raise ConfigError(f"unknown output format {name!r}; choose one of: {options}") from None


def render(fmt: Format, subject: Decision | DecisionRecord, options: RenderOptions | None = None) -> str:
    """``subject`` rendered as ``fmt``. JSON of a decision record is the whole record (what
    ``govern check --format json`` prints and ``govern card``/``govern replay`` read); every
    other format renders the decision it holds. Every format but JSON (lossless, for programs,
    where JSON's own escaping applies) sees the decision with its user text neutralized."""
    opts = options or RenderOptions()
    decision = subject.decision if isinstance(subject, DecisionRecord) else subject
    if fmt is not Format.JSON:
        from .sanitize import sanitize_decision

        decision = sanitize_decision(decision)
    if fmt is Format.TEXT:
        from . import text

        return text.render(decision, color=opts.color, width=opts.width)
    if fmt is Format.JSON:
        from . import json as json_format

        if isinstance(subject, DecisionRecord):
            return subject.to_json()
        return json_format.render(decision)
    if fmt is Format.JUNIT:
        from . import junit

        return junit.render(decision)
    if fmt is Format.SARIF:
        from . import sarif

        return sarif.render(decision, opts.locations)
    if fmt is Format.GITHUB:
        from . import github

        return github.render(decision, opts.locations)
    if fmt is Format.MARKDOWN:
        from . import markdown

        return markdown.render(decision)
    assert_never(fmt)

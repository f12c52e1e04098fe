"""Model cards: build a typed card from spec, evidence and decision, render it as md, html or json.

``build_card`` is pure (an evidence document and a decision document in, :class:`ModelCard`
out) and never judges: every status is a rule result of the decision, and evidence the decision
did not judge is refused. Each format is one module with a pure ``render(card) -> str``; Markdown
and HTML render one view-model through Jinja2 templates. The CLI's ``govern card`` loads the
inputs and writes the file.
"""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from ..errors import ConfigError
from .build import build_card
from .model import ModelCard, to_document

__all__ = ["CardFormat", "ModelCard", "build_card", "parse_card_format", "render_card", "to_document"]


class CardFormat(StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"


def parse_card_format(name: str) -> CardFormat:
    """A card format by name; an unknown one is an error, never a fallback."""
    try:
        return CardFormat(name)
    except ValueError:
        options = ", ".join(f.value for f in CardFormat)
        raise ConfigError(f"unknown card format {name!r}; choose one of: {options}") from None


def render_card(fmt: CardFormat, card: ModelCard) -> str:
    if fmt is CardFormat.MD:
        from ..formats.sanitize import sanitize_value
        from . import markdown

        return markdown.render(sanitize_value(card))  # no escape sequence reaches card.md
    if fmt is CardFormat.HTML:
        from . import html

        return html.render(card)
    if fmt is CardFormat.JSON:
        from . import json as json_card

        return json_card.render(card)
    assert_never(fmt)

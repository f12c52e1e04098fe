"""Markdown: a Hugging Face style model card (YAML front matter, then the sections).

The front matter carries what the Hub reads: ``license``, ``tags``, ``library_name``,
``datasets``, ``metrics`` and a ``model-index`` with the run's metrics on the evaluation data.
The body has the same ten sections as the HTML card, rendered from the same view-model
(:mod:`.view`) through ``templates/card.md.j2``; every interpolation is Markdown-escaped.
"""

from __future__ import annotations

import re

from .model import ModelCard
from .view import card_view, front_matter, markdown_environment

__all__ = ["front_matter", "render"]


def render(card: ModelCard) -> str:
    template = markdown_environment().get_template("card.md.j2")
    text = template.render(view=card_view(card))
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"

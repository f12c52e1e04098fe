"""JSON: the card as a document, valid against ``schemas/model-card.schema.json``."""

from __future__ import annotations

import json

from .model import ModelCard, to_document

__all__ = ["render"]


def render(card: ModelCard) -> str:
    return json.dumps(to_document(card), indent=2, ensure_ascii=False) + "\n"

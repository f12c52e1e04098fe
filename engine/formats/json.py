"""JSON: the decision document, valid against schemas/decision.schema.json."""

from __future__ import annotations

import json

from ..decision import Decision
from .sanitize import escape_json_controls

__all__ = ["render"]


def render(decision: Decision) -> str:
    return escape_json_controls(json.dumps(decision.to_dict(), indent=2, ensure_ascii=False)) + "\n"

"""The stages of a model's life at which a decision is taken (a leaf module: no imports)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Stage"]


class Stage(StrEnum):
    """Where in a model's life a decision is taken."""

    REGISTER = "register"
    DEPLOY = "deploy"
    ROLLBACK = "rollback"

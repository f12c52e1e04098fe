"""Model registries: one interface (``base.Registry``), one module per implementation (``mlflow``)."""

from __future__ import annotations

from .base import Registry, RunRecord, VersionRecord

__all__ = ["Registry", "RunRecord", "VersionRecord"]

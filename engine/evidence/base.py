"""The collector interface: each source of evidence fills sections of the document.

A collector returns the sections it owns; a section it cannot fill is ``None`` with the reason
in ``missing`` (never silently absent). Collectors wrap their library's errors in
:class:`~govern.engine.errors.CollectionError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..spec import ModelSpec, Stage

__all__ = ["Collected", "Collector"]


@dataclass
class Collected:
    """What one collector found: sections, reasons for missing ones, and inputs it read."""

    sections: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # name → sha256


class Collector(ABC):
    name: ClassVar[str]
    sections: ClassVar[tuple[str, ...]]

    @abstractmethod
    def collect(self, spec: ModelSpec, stage: Stage) -> Collected:
        """Gather this collector's sections for ``spec`` at ``stage``."""

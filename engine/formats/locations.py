"""Where in the spec file a result points: the line of its waiver, or of the spec section its
thresholds come from. SARIF regions and GitHub annotations use these lines.

A :class:`SpecLocations` is built once from the parsed spec document (the CLI reads the file;
this module does no I/O) and handed to the formatters in ``RenderOptions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..dataclass_methods import shared_methods
from ..decision import RuleResult
from ..documents import Document, FieldPath

__all__ = ["SpecLocations", "package_sections", "spec_locations"]


def package_sections() -> Mapping[str, tuple[FieldPath, ...]]:
    """The spec fields each built-in pack reads, most specific first (from the pack manifest)."""
    from ..packs import packs

    return MappingProxyType({p.package: p.locations for p in packs()})


_TEAM_POLICIES: FieldPath = ("policies",)


def _empty() -> Mapping[str, int]:
    return MappingProxyType({})


@shared_methods
@dataclass(frozen=True, eq=False, repr=False)
class SpecLocations:
    """Lines in the spec: of each rule's waiver, and of the section each package reads."""

    waivers: Mapping[str, int] = field(default_factory=_empty)
    sections: Mapping[str, int] = field(default_factory=_empty)
    policies: int | None = None

    def line_for(self, result: RuleResult) -> int | None:
        """The waiver's line for a waived (or expired-waiver) result, else its section's line."""
        if result.waiver is not None and result.rule_id in self.waivers:
            return self.waivers[result.rule_id]
        if result.package in self.sections:
            return self.sections[result.package]
        if result.package.startswith("govern."):
            return None
        return self.policies  # a team policy: point at the spec's policies section

    def waiver_line(self, rule_id: str) -> int | None:
        return self.waivers.get(rule_id)


def spec_locations(doc: Document) -> SpecLocations:
    """The lines of a parsed spec document's waivers and sections."""
    value: Any = doc.value if isinstance(doc.value, dict) else {}
    waivers: dict[str, int] = {}
    raw_waivers = value.get("waivers")
    if isinstance(raw_waivers, list):
        for i, raw in enumerate(raw_waivers):
            rule = raw.get("rule") if isinstance(raw, dict) else None
            line = doc.lines.get(("waivers", i))
            if isinstance(rule, str) and line is not None:
                waivers.setdefault(rule, line)
    sections: dict[str, int] = {}
    for package, paths in package_sections().items():
        for path in paths:
            line = doc.lines.get(path)
            if line is not None:
                sections[package] = line
                break
    return SpecLocations(
        waivers=MappingProxyType(waivers),
        sections=MappingProxyType(sections),
        policies=doc.lines.get(_TEAM_POLICIES),
    )

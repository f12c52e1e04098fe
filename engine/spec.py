"""Model specs: load, validate against schemas/model-spec.schema.json, normalize."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from .documents import Document, load_document
from .errors import SpecError
from .schemas import Schema, validate

__all__ = [
    "ModelSpec",
    "PolicySource",
    "RegoVersion",
    "RiskTier",
    "Stage",
    "Waiver",
    "confined_path",
    "is_valid_alias",
    "load_spec",
    "spec_from_document",
]


class Stage(StrEnum):
    """Where in a model's life a decision is taken."""

    REGISTER = "register"
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class RiskTier(StrEnum):
    """EU AI Act risk categories."""

    MINIMAL = "minimal"
    LIMITED = "limited"
    HIGH = "high"
    UNACCEPTABLE = "unacceptable"


class RegoVersion(StrEnum):
    V0 = "v0"
    V1 = "v1"


@dataclass(frozen=True)
class Waiver:
    """An approved, time-boxed exception to one rule."""

    rule: str
    reason: str
    approver: str
    expires: dt.date
    stages: tuple[Stage, ...] | None
    ticket: str | None
    line: int | None

    def applies_to(self, stage: Stage) -> bool:
        return self.stages is None or stage in self.stages

    def expired(self, today: dt.date) -> bool:
        """A waiver is valid through its expiry date and void the day after."""
        return today > self.expires


@dataclass(frozen=True)
class PolicySource:
    """An extra policy folder or file named by the spec."""

    path: Path
    rego_version: RegoVersion


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec. ``data`` is the normalized document (it becomes ``input.spec``)."""

    data: dict[str, Any]
    source: str
    sha256: str
    waivers: tuple[Waiver, ...]
    policy_sources: tuple[PolicySource, ...]
    packs: tuple[str, ...] | None

    @property
    def name(self) -> str:
        return str(self.data["metadata"]["name"])

    @property
    def risk_tier(self) -> RiskTier:
        return RiskTier(self.data["metadata"]["risk_tier"])

    @property
    def model_ref(self) -> dict[str, Any]:
        """The model reference as the decision records it."""
        model = self.data.get("model", {})
        registered = model.get("registered") or {}
        run = model.get("run") or {}
        return {
            "name": registered.get("name"),
            "version": str(registered["version"]) if "version" in registered else None,
            "alias": registered.get("alias"),
            "run_id": run.get("run_id"),
        }

    @property
    def params_overrides(self) -> dict[str, Any]:
        return dict(self.data.get("policies", {}).get("params", {}))


def _normalize(value: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(value)
    model = data.get("model", {})
    if "run" in model:
        model["run"].setdefault("artifact_path", "model")
    if "registered" in model and "version" in model["registered"]:
        model["registered"]["version"] = str(model["registered"]["version"])
    champion = data.get("requirements", {}).get("champion")
    if champion is not None:
        champion.setdefault("alias", "champion")
        champion.setdefault("higher_is_better", True)
        champion.setdefault("max_regression", 0)
    data.setdefault("intended_use", {}).setdefault("out_of_scope", [])
    data.setdefault("waivers", [])
    return data


#: A spec section, and the built-in pack whose rules read it.
_SECTION_PACKS = (
    (("requirements", "metrics"), "metrics"),
    (("requirements", "champion"), "champion"),
    (("requirements", "lineage"), "lineage"),
    (("requirements", "data_quality"), "data"),
    (("requirements", "live"), "live"),
    (("fairness",), "fairness"),
    (("explainability",), "explainability"),
)


def _check_packs(doc: Document, value: dict[str, Any], packs: tuple[str, ...]) -> None:
    """A threshold whose pack is not applied would never be checked: say so instead of passing."""
    for path, pack in _SECTION_PACKS:
        node: Any = value
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and pack not in packs:
            raise SpecError(
                f"{'.'.join(path)} is set, but policies.packs leaves out the '{pack}' pack that checks it",
                doc.location(("policies", "packs")),
                hint=f"add '{pack}' to policies.packs, or remove {'.'.join(path)}",
            )


def confined_path(raw: str, base: Path, allowed_roots: Sequence[Path] = ()) -> Path | None:
    """``raw`` resolved against ``base`` (symlinks followed), or None when it lands outside
    ``base`` and every allowed root."""
    resolved = (base / raw).resolve()
    for root in (base, *allowed_roots):
        if resolved.is_relative_to(root.resolve()):
            return resolved
    return None


def _confine(
    doc: Document, field: tuple[str | int, ...], raw: str, base: Path, allowed_roots: Sequence[Path]
) -> Path:
    """A path named by the spec must stay inside the spec's folder or an allowed root (exit 2)."""
    if "\0" in raw:
        raise SpecError("the path contains a NUL character", doc.location(field))
    resolved = confined_path(raw, base, allowed_roots)
    if resolved is None:
        roots = ", ".join(str(r) for r in (base, *allowed_roots))
        raise SpecError(
            f"the path {raw!r} leads outside the spec's folder and every allowed root ({roots})",
            doc.location(field),
            hint="move the file under the spec's folder, or allow its folder with --allow-root DIR",
        )
    return resolved


_ALIAS_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
ALIAS_RULE = "letters, digits, '_' and '-' (at most 255), not 'latest' nor a version such as 'v3'"


def is_valid_alias(name: str) -> bool:
    """Whether MLflow can hold ``name`` as a model alias."""
    if not _ALIAS_RE.fullmatch(name) or name.lower() == "latest":
        return False
    return not re.fullmatch(r"[vV][0-9]+", name)


_NAME_FORBIDDEN_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _check_references(doc: Document, value: dict[str, Any]) -> None:
    """Names the registry will be asked about: plain text, and aliases MLflow can hold."""
    model = value.get("model") or {}
    registered = model.get("registered") or {}
    run = model.get("run") or {}
    for section, key, item in (
        ("registered", "name", registered.get("name")),
        ("registered", "alias", registered.get("alias")),
        ("run", "run_id", run.get("run_id")),
        ("run", "artifact_path", run.get("artifact_path")),
    ):
        if not isinstance(item, str):
            continue
        where = doc.location(("model", section, key))
        if _NAME_FORBIDDEN_RE.search(item) or item != item.strip() or len(item) > 256:
            raise SpecError(
                f"model.{section}.{key} must be plain text on one line: no control characters, line "
                "breaks or surrounding spaces, at most 256 characters",
                where,
            )
    alias = registered.get("alias")
    champion = (value.get("requirements") or {}).get("champion") or {}
    for field, item in (
        (("model", "registered", "alias"), alias),
        (("requirements", "champion", "alias"), champion.get("alias")),
    ):
        if isinstance(item, str) and not is_valid_alias(item):
            raise SpecError(f"an alias is {ALIAS_RULE}", doc.location(field))


def _confine_data(doc: Document, value: dict[str, Any], base: Path, allowed_roots: Sequence[Path]) -> None:
    for key, ds in (value.get("data") or {}).items():
        if not isinstance(ds, dict):
            continue
        if isinstance(ds.get("path"), str):
            _confine(doc, ("data", key, "path"), ds["path"], base, allowed_roots)
        uri = ds.get("uri")
        if isinstance(uri, str) and uri.startswith("file:"):
            from urllib.parse import unquote, urlparse

            _confine(doc, ("data", key, "uri"), unquote(urlparse(uri).path), base, allowed_roots)


def spec_from_document(
    doc: Document, base_dir: Path | None = None, allowed_roots: Sequence[Path] = ()
) -> ModelSpec:
    """Validate a parsed document as a model spec.

    Every data and policy path it names must resolve (symlinks followed) inside ``base_dir``
    (default: the spec's folder) or one of ``allowed_roots``; anything else is a SpecError.
    """
    validate(doc, Schema.MODEL_SPEC, SpecError)
    value: dict[str, Any] = doc.value
    registered = value["model"].get("registered")
    if registered is not None and "version" in registered and "alias" in registered:
        raise SpecError(
            "give either a version or an alias for a registered model, not both",
            doc.location(("model", "registered")),
        )
    waivers = []
    for i, raw in enumerate(value.get("waivers", [])):
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            raise SpecError(
                f"'{raw['expires']}' is not a calendar date (YYYY-MM-DD)",
                doc.location(("waivers", i, "expires")),
            ) from None
        stages = tuple(Stage(s) for s in raw["stages"]) if "stages" in raw else None
        waivers.append(
            Waiver(
                rule=raw["rule"],
                reason=" ".join(raw["reason"].split()),
                approver=raw["approver"],
                expires=expires,
                stages=stages,
                ticket=raw.get("ticket"),
                line=doc.line_of(("waivers", i)),
            )
        )
    base = base_dir if base_dir is not None else Path(doc.source).parent
    sources = []
    policies = value.get("policies", {})
    for i, raw_entry in enumerate(policies.get("paths", [])):
        entry = {"path": raw_entry} if isinstance(raw_entry, str) else raw_entry
        version = RegoVersion(entry.get("rego_version", "v1"))
        field = ("policies", "paths", i) if isinstance(raw_entry, str) else ("policies", "paths", i, "path")
        sources.append(
            PolicySource(path=_confine(doc, field, entry["path"], base, allowed_roots), rego_version=version)
        )
    _confine_data(doc, value, base, allowed_roots)
    _check_references(doc, value)
    packs = tuple(policies["packs"]) if "packs" in policies else None
    if packs is not None:
        _check_packs(doc, value, packs)
    return ModelSpec(
        data=_normalize(value),
        source=doc.source,
        sha256=doc.sha256,
        waivers=tuple(waivers),
        policy_sources=tuple(sources),
        packs=packs,
    )


def load_spec(path: Path, allowed_roots: Sequence[Path] = ()) -> ModelSpec:
    """Load and validate a spec file. Raises :class:`SpecError` naming file, line and field.

    ``allowed_roots``: folders besides the spec's own that its data and policy paths may name.
    """
    doc, _ = load_document(path, SpecError)
    if not isinstance(doc.value, dict):
        raise SpecError("a model spec must be a YAML mapping", doc.location(()))
    return spec_from_document(doc, allowed_roots=allowed_roots)

"""The built-in policy packs, declared once in ``policies/packs.yaml``.

Every part that needs to know a pack reads :data:`PACKS` (through :func:`packs`): the policy
loader (which folders to load), the parameters (which spec section feeds which params key), the
spec's consistency check (a configured section whose pack is left out), the SARIF/GitHub line
locations, the evidence document's sections, the model card and the packaging. Adding a pack is
its folder plus one manifest entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .package_files import package_files
from .stage import Stage

__all__ = ["MANIFEST", "Pack", "pack_by_name", "pack_by_package", "packs", "parse_manifest"]

#: The manifest's name inside the ``govern.policies`` package.
MANIFEST = "packs.yaml"

_FIELDS = frozenset(
    {
        "name",
        "package",
        "title",
        "spec",
        "params",
        "evidence",
        "stages",
        "locations",
        "flatten",
        "set",
        "drop",
        "extra",
    }
)
_REQUIRED = ("name", "package", "title", "stages")

FieldPath = tuple[str, ...]


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Pack:
    """One built-in policy pack."""

    name: str
    package: str
    title: str
    stages: frozenset[Stage]
    spec: FieldPath | None = None
    params: str | None = None
    evidence: str | None = None
    locations: tuple[FieldPath, ...] = ()
    flatten: tuple[str, ...] = ()
    set: Mapping[str, Any] = field(default_factory=_empty_mapping)
    drop: tuple[str, ...] = ()
    extra: tuple[tuple[FieldPath, str], ...] = ()  # further (spec section, params key) pairs

    def params_from_spec(self, spec_data: Mapping[str, Any]) -> dict[str, Any]:
        """This pack's params keys as the spec configures them ({} when the spec is silent)."""
        out: dict[str, Any] = {}
        if self.spec is not None and self.params is not None:
            node = _at(spec_data, self.spec)
            if isinstance(node, Mapping):
                value: dict[str, Any] = {
                    k: v for k, v in node.items() if k not in self.drop and k not in self.flatten
                }
                for key in self.flatten:
                    inner = node.get(key)
                    if isinstance(inner, Mapping):
                        value.update(inner)
                value.update(self.set)
                out[self.params] = value
        for section, key in self.extra:
            node = _at(spec_data, section)
            if node is not None:
                out[key] = node
        return out


def _at(document: Mapping[str, Any], path: FieldPath) -> Any:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _problem(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}", hint="the pack manifest is policies/packs.yaml")


def _path(value: Any, where: str) -> FieldPath:
    if not isinstance(value, str) or not value or any(not p for p in value.split(".")):
        raise _problem(where, f"{value!r} is not a dotted field path")
    return tuple(value.split("."))


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _problem(where, "must be a list of names")
    return tuple(value)


def _pack(raw: Any, index: int) -> Pack:
    where = f"packs[{index}]"
    if not isinstance(raw, dict):
        raise _problem(where, "each pack is a mapping")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _problem(where, f"unknown field {unknown[0]!r}")
    for key in _REQUIRED:
        if not isinstance(raw.get(key), (str, list)) or not raw[key]:
            raise _problem(where, f"{key} is required")
    name = raw["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise _problem(where, f"name {name!r} must be a Python/Rego identifier (it names a folder)")
    package = raw["package"]
    if not isinstance(package, str) or package != f"govern.{name}":
        raise _problem(where, f"package must be govern.{name}")
    try:
        stages = frozenset(Stage(s) for s in _names(raw["stages"], f"{where}.stages"))
    except ValueError as exc:
        raise _problem(f"{where}.stages", str(exc)) from None
    constant = raw.get("set") or {}
    if not isinstance(constant, dict):
        raise _problem(f"{where}.set", "must be a mapping")
    for key in ("params", "evidence", "title"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _problem(f"{where}.{key}", "must be a string or null")
    extra = raw.get("extra") or []
    if not isinstance(extra, list) or not all(
        isinstance(e, dict) and set(e) == {"spec", "params"} and isinstance(e["params"], str) for e in extra
    ):
        raise _problem(f"{where}.extra", "must be a list of {spec: <dotted path>, params: <key>}")
    return Pack(
        extra=tuple((_path(e["spec"], f"{where}.extra"), e["params"]) for e in extra),
        name=name,
        package=package,
        title=str(raw["title"]),
        stages=stages,
        spec=_path(raw["spec"], f"{where}.spec") if raw.get("spec") is not None else None,
        params=raw.get("params"),
        evidence=raw.get("evidence"),
        locations=tuple(
            _path(p, f"{where}.locations") for p in _names(raw.get("locations", []), f"{where}.locations")
        ),
        flatten=_names(raw.get("flatten", []), f"{where}.flatten"),
        set=MappingProxyType(dict(constant)),
        drop=_names(raw.get("drop", []), f"{where}.drop"),
    )


def parse_manifest(text: str) -> tuple[Pack, ...]:
    """The packs a manifest declares, checked strictly (unknown fields, duplicates)."""
    from .documents import load_yaml_value

    def load(body: str) -> Any:
        import yaml

        try:
            return yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise _problem("packs.yaml", f"not valid YAML: {exc}") from None

    loaded = load_yaml_value(text, "safe", load)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("packs"), list):
        raise _problem("packs.yaml", "must hold a 'packs' list")
    out = tuple(_pack(raw, i) for i, raw in enumerate(loaded["packs"]))
    seen: set[str] = set()
    for pack in out:
        if pack.name in seen:
            raise _problem("packs.yaml", f"pack {pack.name!r} is declared twice")
        seen.add(pack.name)
    return out


@cache
def packs() -> tuple[Pack, ...]:
    """The built-in packs, in manifest order."""
    text = package_files("govern.policies").joinpath(MANIFEST).read_text(encoding="utf-8")
    return parse_manifest(text)


def pack_by_name(name: str) -> Pack | None:
    return next((p for p in packs() if p.name == name), None)


def pack_by_package(package: str) -> Pack | None:
    return next((p for p in packs() if p.package == package), None)


def _pack_schema(pack: Pack) -> Mapping[str, Any]:
    """``policies/<pack>/schema.json``: the JSON Schemas of the pack's spec and evidence sections."""
    import json

    node = package_files("govern.policies").joinpath(pack.name).joinpath("schema.json")
    if not node.is_file():
        return {}
    loaded = json.loads(node.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict) or set(loaded) - {"spec", "evidence"}:
        raise _problem(f"policies/{pack.name}/schema.json", "must be an object with 'spec' and/or 'evidence'")
    return loaded


def extend_schema(kind: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The model-spec or evidence schema with the sections of packs it does not name yet.

    A pack's spec section and evidence section are described by its own ``schema.json``
    (permissive objects when it has none), so a new pack needs no edit of the shipped schemas.
    """
    if kind not in ("spec", "evidence"):
        return schema
    if kind == "spec":
        # policies.packs names the packs of the manifest, whatever the shipped schema lists
        node: Any = schema.get("properties", {}).get("policies", {}).get("properties", {}).get("packs")
        if isinstance(node, dict) and isinstance(node.get("items"), dict):
            node["items"] = {"enum": [p.name for p in packs()]}
    for pack in packs():
        fragment = _pack_schema(pack).get(kind)
        if kind == "evidence" and pack.evidence is not None:
            props = schema.setdefault("properties", {})
            if pack.evidence not in props:
                body = fragment if isinstance(fragment, dict) else {"type": "object"}
                props[pack.evidence] = {"anyOf": [{"type": "null"}, body]}
                required = schema.setdefault("required", [])
                if pack.evidence not in required:
                    required.append(pack.evidence)
        if kind == "spec" and pack.spec is not None:
            node = schema
            for key in pack.spec[:-1]:
                node = node.setdefault("properties", {}).setdefault(key, {"type": "object"})
            props = node.setdefault("properties", {})
            if pack.spec[-1] not in props:
                props[pack.spec[-1]] = fragment if isinstance(fragment, dict) else {"type": "object"}
    return schema

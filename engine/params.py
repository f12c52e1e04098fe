"""``data.govern.params``: the thresholds policies read, built from defaults, tier and spec.

Precedence, lowest first:

1. ``params`` in the shipped ``policies/defaults.yaml``;
2. ``tiers.<risk_tier>`` in the same file (a high-risk tier tightens defaults);
3. the spec's own sections (``requirements``, ``fairness``, ``explainability``);
4. the spec's ``policies.params`` (free-form, for the team's own policies);
5. ``--param key.path=value`` on the command line.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .package_files import package_files
from .spec import ModelSpec

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["build_params", "deep_merge", "defaults", "parse_param_override"]


def _read_defaults(node: Traversable, where: str) -> dict[str, Any]:
    from .documents import load_yaml_value

    def load(text: str) -> Any:
        import yaml

        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    loaded = load_yaml_value(node.read_text(encoding="utf-8"), "safe", load)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("params"), dict):
        raise ConfigError(f"{where} must hold a 'params' mapping")
    tiers = loaded.get("tiers", {})
    if not isinstance(tiers, dict):
        raise ConfigError(f"{where}: 'tiers' must be a mapping")
    return {"params": loaded["params"], "tiers": tiers}


@cache
def _defaults_file() -> dict[str, Any]:
    """``policies/defaults.yaml`` merged with each pack's own ``policies/<pack>/defaults.yaml``."""
    from .packs import packs

    root = package_files("govern.policies")
    merged = _read_defaults(root.joinpath("defaults.yaml"), "policies/defaults.yaml")
    for pack in packs():
        node = root.joinpath(pack.name).joinpath("defaults.yaml")
        if node.is_file():
            extra = _read_defaults(node, f"policies/{pack.name}/defaults.yaml")
            merged["params"] = deep_merge(merged["params"], extra["params"])
            merged["tiers"] = deep_merge(merged["tiers"], extra["tiers"])
    return merged


def defaults() -> dict[str, Any]:
    return copy.deepcopy(_defaults_file()["params"])


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``; mappings merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _from_spec(spec: ModelSpec) -> dict[str, Any]:
    """Each pack's params as the spec configures them (the manifest says which section feeds which key)."""
    from .packs import packs

    out: dict[str, Any] = {"tier": spec.risk_tier.value}
    for pack in packs():
        out.update(pack.params_from_spec(spec.data))
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a policy can compare")


def parse_param_override(text: str) -> dict[str, Any]:
    """``fairness.min_group_size=50`` → ``{"fairness": {"min_group_size": 50}}``.

    The value is read as JSON when it parses, else kept as a string.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--param {text!r} must look like key.path=value")
    try:
        value: Any = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError:
        value = raw
    except ValueError as exc:
        raise ConfigError(f"--param {text!r}: {exc}") from None
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def build_params(spec: ModelSpec, overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The effective ``data.govern.params`` for ``spec``."""
    params = defaults()
    tier = _defaults_file().get("tiers", {}).get(spec.risk_tier.value)
    if tier:
        params = deep_merge(params, tier)
    params = deep_merge(params, _from_spec(spec))
    params = deep_merge(params, spec.params_overrides)
    for override in overrides or []:
        params = deep_merge(params, override)
    _validate(params)
    return params


def _validate(params: dict[str, Any]) -> None:
    """Reject parameters a policy would misread: a mistyped threshold must not pass silently."""
    from .documents import Document
    from .schemas import Schema, validation_errors

    problems = validation_errors(Document(value=params, source="data.govern.params"), Schema.PARAMS)
    if problems:
        path, message = problems[0]
        where = ".".join(str(p) for p in path) or "(root)"
        raise ConfigError(
            f"policy parameter {where}: {message}",
            hint="parameters come from policies/defaults.yaml, the spec's requirements and policies.params, "
            "and --param",
        )


# --- where each parameter came from -------------------------------------------------------------

#: params path prefix → the spec path it is read from (see ``_from_spec``).
_SPEC_PATHS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("metrics",), ("requirements", "metrics")),
    (("champion",), ("requirements", "champion")),
    (("live",), ("requirements", "live")),
    (("lineage",), ("requirements", "lineage")),
    (("data",), ("requirements", "data_quality")),
    (("fairness", "sensitive_features"), ("fairness", "sensitive_features")),
    (("fairness",), ("fairness", "thresholds")),
    (("explainability", "required"), ("explainability",)),
    (("explainability",), ("explainability",)),
    (("tier",), ("metadata", "risk_tier")),
)


def _leaves(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[tuple[str, ...], Any]] = []
        for key, child in value.items():
            out.extend(_leaves(child, (*prefix, str(key))))
        return out
    return [(prefix, value)]


def _has(layer: Any, path: tuple[str, ...]) -> bool:
    node = layer
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _spec_path(path: tuple[str, ...]) -> tuple[str, ...]:
    for prefix, target in _SPEC_PATHS:
        if path[: len(prefix)] == prefix:
            rest = (
                path[len(prefix) :]
                if target != ("explainability",) or prefix != ("explainability", "required")
                else ()
            )
            return (*target, *rest)
    return path


def param_sources(spec: ModelSpec, overrides: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Where each effective parameter (dotted path → description) came from, last layer winning:
    the built-in default, the default for the risk tier, a spec line, or ``--param``."""
    from pathlib import Path

    from .documents import load_document
    from .errors import SpecError

    tier = spec.risk_tier.value
    layers: list[tuple[Any, Any]] = [
        (defaults(), lambda p: "the built-in default"),
        (_defaults_file().get("tiers", {}).get(tier) or {}, lambda p: f"the default for risk tier {tier}"),
    ]
    try:
        doc, _ = load_document(Path(spec.source), SpecError)
        lines: dict[Any, int] = dict(doc.lines)
    except (OSError, SpecError):
        lines = {}  # a spec not read from a file has no lines
    where = Path(spec.source).name

    def from_spec(root: tuple[str, ...]) -> Any:
        def describe(path: tuple[str, ...]) -> str:
            spec_path = (*root, *path) if root else _spec_path(path)
            dotted = ".".join(spec_path)
            if spec_path in lines:
                return f"{where}:{lines[spec_path]} ({dotted})"
            for cut in range(len(spec_path) - 1, 0, -1):
                if spec_path[:cut] in lines:
                    return f"{where}:{lines[spec_path[:cut]]} ({dotted}, the spec schema's default)"
            return f"{where} ({dotted})"

        return describe

    layers.append((_from_spec(spec), from_spec(())))
    layers.append((spec.params_overrides, from_spec(("policies", "params"))))
    for override in overrides or []:
        layers.append((override, lambda p: "--param " + ".".join(p)))
    out: dict[str, str] = {}
    for path, _ in _leaves(build_params(spec, overrides)):
        for layer, describe in reversed(layers):
            if _has(layer, path):
                out[".".join(path)] = describe(path)
                break
    return out

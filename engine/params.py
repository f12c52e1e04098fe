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
from importlib import resources
from typing import Any

import yaml

from .errors import ConfigError
from .spec import ModelSpec

__all__ = ["build_params", "deep_merge", "defaults", "parse_param_override"]


@cache
def _defaults_file() -> dict[str, Any]:
    text = resources.files("govern.policies").joinpath("defaults.yaml").read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict) or not isinstance(loaded.get("params"), dict):
        raise ConfigError("policies/defaults.yaml must hold a 'params' mapping")
    return loaded


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
    data = spec.data
    req = data.get("requirements", {})
    out: dict[str, Any] = {"tier": spec.risk_tier.value}
    if "metrics" in req:
        out["metrics"] = req["metrics"]
    if "champion" in req:
        out["champion"] = req["champion"]
    if "live" in req:
        out["live"] = req["live"]
    min_samples = (data.get("monitoring") or {}).get("min_samples")
    if min_samples is not None:
        out["live_samples"] = {"min": min_samples["min"]}
    if "lineage" in req:
        out["lineage"] = req["lineage"]
    if "data_quality" in req:
        out["data"] = req["data_quality"]
    fairness = data.get("fairness")
    if fairness is not None:
        out["fairness"] = {
            "sensitive_features": fairness["sensitive_features"],
            **fairness.get("thresholds", {}),
        }
    explain = data.get("explainability")
    if explain is not None:
        out["explainability"] = {"required": True, **{k: v for k, v in explain.items() if k != "sample_size"}}
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

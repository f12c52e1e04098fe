"""Stages are declared once per rule: the Rego side must agree with the METADATA.

govern skips a rule whose METADATA ``stages`` exclude the stage before evaluating anything, so
the METADATA is what decides. A built-in rule may also guard itself in Rego (so that it is safe
to query outside govern, from a bundle on a plain OPA); where it does, the guard's stage set —
found in the engine's AST, not by regular expression — must be exactly the METADATA's, and every
pack's rules must stay within the stages the pack manifest declares.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from govern.engine.packs import pack_by_package
from govern.engine.policyset import builtin_modules, make_policy_set

os.environ.setdefault("RUST_LIB_BACKTRACE", "0")
regorus = pytest.importorskip("regorus")

GUARDS = {"applies", "applies_at"}  # the library's stage guard(s)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _rule_name(head: dict[str, Any]) -> str | None:
    for kind in head.values():
        refr = kind.get("refr", {}) if isinstance(kind, dict) else {}
        var = refr.get("Var")
        if var:
            return str(var["value"])
    return None


def _guard_args(body: Any) -> list[Any]:
    """The argument of every ``lib.applies(x)``-style call in a rule body."""
    out = []
    for node in _walk(body):
        call = node.get("Call")
        if not isinstance(call, dict):
            continue
        fcn = call.get("fcn", {})
        field = (fcn.get("RefDot") or {}).get("field")
        if isinstance(field, list) and len(field) == 2 and field[1] in GUARDS and call.get("params"):
            out.append(call["params"][0])
    return out


def _guards() -> dict[tuple[str, str], set[str]]:
    """(package, rule) → the stage set its Rego guard names (the union over its bodies)."""
    modules = [m for m in builtin_modules() if m.package != "govern.lib"]
    engine = regorus.Engine()
    for module in builtin_modules():
        engine.add_policy(module.path, module.text)
    engine.add_data_json(json.dumps({"govern": {"params": {}}}))
    found: dict[tuple[str, str], set[str]] = {}
    for module in modules:
        single = regorus.Engine()
        single.add_policy(module.path, module.text)
        (entry,) = json.loads(single.get_ast_as_json())
        for rule in entry["ast"]["rules"]:
            spec = rule.get("Spec")
            if not spec:
                continue
            name = _rule_name(spec["head"])
            if name is None or not name.startswith(("deny", "warn")):
                continue
            for arg in _guard_args(spec.get("bodies", [])):
                var = arg.get("Var", {}).get("value")
                assert var, f"{module.path}: {name} guards its stage with an expression, not a named set"
                value = engine.eval_rule(f"data.{module.package}.{var}")
                found.setdefault((module.package, name), set()).update(value)
    return found


def test_every_rego_stage_guard_equals_its_rules_metadata() -> None:
    policy_set = make_policy_set(builtin_modules())
    guards = _guards()
    checked = 0
    for rule in policy_set.rules:
        declared = {s.value for s in rule.stages}
        guard = guards.get((rule.package, rule.name))
        if guard is not None:
            assert guard == declared, (
                f"{rule.id} ({rule.file}:{rule.line}): Rego guard {guard} != METADATA {declared}"
            )
            checked += 1
    assert checked == len(guards), "a guarded rule has no METADATA"


def test_every_rule_stays_within_its_packs_stages() -> None:
    for rule in make_policy_set(builtin_modules()).rules:
        pack = pack_by_package(rule.package)
        assert pack is not None, rule.package
        assert rule.stages <= pack.stages, (
            f"{rule.id}: {sorted(rule.stages)} beyond {pack.name}'s {sorted(pack.stages)}"
        )

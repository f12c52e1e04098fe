"""The built-in policy library keeps its own contract: annotated, parameterized, tested."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

from govern.engine.backends import create_backend
from govern.engine.policyset import Severity, builtin_modules, builtin_pack_names, make_policy_set
from govern.engine.spec import Stage

MODULES = builtin_modules()
RULES = make_policy_set(MODULES).rules


def test_every_pack_is_present_and_every_rule_is_annotated() -> None:
    packages = {m.package for m in MODULES}
    assert {f"govern.{p}" for p in builtin_pack_names()} <= packages
    assert len(RULES) >= 30
    for rule in RULES:
        assert rule.annotated, f"{rule.path} has no # METADATA"
        assert re.fullmatch(r"GOV-[A-Z]+-\d{3}", rule.id), rule.id
        assert rule.title, rule.id
        assert rule.severity in set(Severity)
        assert rule.stages, rule.id
        assert any(c.startswith("EU-AI-Act:Art.") for c in rule.controls), rule.id
        assert any(c.startswith("NIST-AI-RMF:") for c in rule.controls), rule.id


def test_rule_ids_are_unique_and_stable() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    # ids are a contract with users' waivers: these must never be renumbered
    for known in (
        "GOV-PERF-001",
        "GOV-CHAMP-001",
        "GOV-FAIR-001",
        "GOV-XAI-001",
        "GOV-LIN-003",
        "GOV-DOC-004",
    ):
        assert known in ids


def test_every_policy_file_has_a_test_file_beside_it() -> None:
    with_tests = builtin_modules(include_tests=True)
    tests = {m.path for m in with_tests if m.is_test}
    for module in MODULES:
        assert module.path.removesuffix(".rego") + "_test.rego" in tests, module.path


def test_live_rules_apply_only_at_rollback() -> None:
    """Live metrics are judged at rollback; the one deploy rule keeps a quarantined version out."""
    for rule in RULES:
        if rule.package == "govern.live":
            expected = {Stage.DEPLOY} if rule.id == "GOV-LIVE-007" else {Stage.ROLLBACK}
            assert rule.stages == frozenset(expected), rule.id


def test_policies_hold_no_numeric_thresholds() -> None:
    """Thresholds come from data.govern.params; a decimal literal in a rule body is a smell."""
    for module in MODULES:
        if module.package == "govern.lib":
            continue
        code = "\n".join(line.split("#", 1)[0] for line in module.text.splitlines())
        assert not re.search(r"(?<![\w.])\d+\.\d+", code), f"{module.path} compares against a literal"


def test_every_param_a_policy_reads_has_a_default() -> None:
    """A param missing from defaults would make its rule silently undefined: fail open."""
    text = resources.files("govern.policies").joinpath("defaults.yaml").read_text()
    params = yaml.safe_load(text)["params"]
    for module in MODULES:
        for section in re.findall(r'lib\.section\("(\w+)"\)', module.text):
            assert section in params, f"{module.path} reads params.{section}, which has no default"


def test_builtin_library_compiles_strictly() -> None:
    backend = create_backend("embedded")
    backend.load(make_policy_set(MODULES), {"govern": {"params": {}}})


@pytest.mark.parametrize("pack", builtin_pack_names())
def test_each_pack_loads_on_its_own(pack: str) -> None:
    backend = create_backend("embedded")
    backend.load(make_policy_set(builtin_modules([pack])), {"govern": {"params": {}}})

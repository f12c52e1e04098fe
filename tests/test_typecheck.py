"""Policies are checked against the evidence and params schemas at load."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from govern.engine.backends import create_backend
from govern.engine.capabilities import REFUSED_BUILTINS, check_builtins, opa_capabilities
from govern.engine.check import Checker
from govern.engine.decision import Result
from govern.engine.errors import PolicyLoadError
from govern.engine.evidence import evidence_from_value
from govern.engine.policyset import load_policy_set, make_policy_set, modules_from_path
from govern.engine.spec import PolicySource, RegoVersion, load_spec
from govern.engine.typecheck import (
    Root,
    check_policy_set,
    opa_input_schema,
    problems,
    references,
    valid_paths,
)

from .conftest import SPEC, TODAY

ARTICLE = 'package article\n\ndeny[msg] { input.bias_score > 0.1; msg := "bias too high" }\n'
CORRECTED = 'package article\n\ndeny[msg] { input.run.metrics.bias_score > 0.1; msg := "bias too high" }\n'


def _policy(tmp_path: Path, text: str, name: str = "team.rego") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def _problems(tmp_path: Path, text: str, version: RegoVersion = RegoVersion.V1) -> list[str]:
    modules = modules_from_path(_policy(tmp_path, text), version)
    return [p.message for p in problems(references(modules))]


def _checker(tmp_path: Path, text: str, backend: str = "embedded") -> Checker:
    spec = load_spec(SPEC)
    source = PolicySource(path=_policy(tmp_path, text), rego_version=RegoVersion.V0)
    policy_set = load_policy_set(spec, [source], builtin=False)
    return Checker.for_spec(spec, policy_set, create_backend(backend))


def test_the_article_rule_is_a_load_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        _checker(tmp_path, ARTICLE)
    error = caught.value
    assert error.exit_code == 2
    assert error.location is not None
    assert error.location.file is not None
    assert error.location.file.endswith("team.rego")
    assert error.location.line == 3
    assert "`input.bias_score` (column 13) is not in the evidence document" in error.message
    assert "did you mean `input.run.metrics.bias_score`" in error.message


def test_the_corrected_article_rule_denies_a_biased_model(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    checker = _checker(tmp_path, CORRECTED)
    biased = copy.deepcopy(example_evidence)
    biased["run"]["metrics"]["bias_score"] = 0.38
    decision = checker.decide(evidence_from_value(biased), today=TODAY)
    assert [r.result for r in decision.results] == [Result.FAIL]
    assert decision.results[0].message == "bias too high"
    fair = copy.deepcopy(example_evidence)
    fair["run"]["metrics"]["bias_score"] = 0.02
    assert [r.result for r in checker.decide(evidence_from_value(fair), today=TODAY).results] == [Result.PASS]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        (
            "input.fairness.features[f].demographic_parity_diff",
            "`input.fairness.features[_].demographic_parity_difference`",
        ),
        ('input.fairness.features["sex"].group_size', "is not in the evidence document"),
        ("input.spec.metadata.ownr", "did you mean `input.spec.metadata.owner`"),
        ("input.stage.name", "is not in the evidence document"),
        ("input.run.datasets[0].contxt", "`input.run.datasets[_].context`"),
        ("data.govern.params.fairness.demographic_parity_diff", "is not in the policy parameters"),
        ("data.govern.params.explainability.topk", "`data.govern.params.explainability.top_k`"),
    ],
)
def test_references_that_cannot_exist(tmp_path: Path, expression: str, fragment: str) -> None:
    text = f"package team\n\nimport rego.v1\n\ndeny contains 1 if {{\n\tsome f\n\t{expression}\n}}\n"
    found = _problems(tmp_path, text)
    assert len(found) == 1, found
    assert fragment in found[0]


@pytest.mark.parametrize(
    "expression",
    [
        "input.run.metrics.bias_score",  # an open map of metric names
        "input.fairness.features[f].metrics.accuracy.by_group.female",
        'input.data.drift["capital-gain"].psi',
        "input.explanations.global_importance[0].share",
        "input.spec.requirements.metrics.accuracy.min",
        "input[f]",  # dynamic: not resolvable statically
        "data.govern.params.team_threshold",  # a team's own parameter
        "data.govern.params.metrics.accuracy.min",
    ],
)
def test_references_that_can_exist(tmp_path: Path, expression: str) -> None:
    text = f"package team\n\nimport rego.v1\n\ndeny contains 1 if {{\n\tsome f\n\t{expression}\n}}\n"
    assert _problems(tmp_path, text) == []


def test_imports_and_helpers_are_followed(tmp_path: Path) -> None:
    text = (
        "package team\n\nimport rego.v1\n\nimport data.govern.lib\nimport input.run as r\n\n"
        'fair := lib.section("fairness")\n\n'
        "deny contains 1 if {\n\tr.metrcs.accuracy\n}\n\n"
        'deny contains 2 if {\n\tlib.get(fair, "min_group", 0) > 1\n}\n\n'
        'deny contains 3 if {\n\tlib.get(lib.evidence("data"), "drift_", {})\n}\n'
    )
    found = _problems(tmp_path, text)
    assert len(found) == 3, found
    assert "`input.run.metrcs.accuracy`" in found[0]
    assert "`data.govern.params.fairness.min_group`" in found[1]
    assert "`input.data.drift_`" in found[2]


def test_the_builtin_library_is_clean_and_checked() -> None:
    count = check_policy_set(load_policy_set(None))
    assert count >= 80  # every input./params. path the library reads, through its helpers


def test_valid_paths_name_open_maps_by_what_they_hold() -> None:
    paths = valid_paths(Root.INPUT)
    assert "input.run.metrics.<metric>" in paths
    assert "input.fairness.features.<feature>.demographic_parity_difference" in paths
    assert "data.govern.params.fairness.group_floor.min" in valid_paths(Root.PARAMS)


@pytest.mark.parametrize("builtin", ["http.send", "opa.runtime", "time.now_ns", "rand.intn", "uuid.rfc4122"])
def test_side_effects_and_clocks_are_refused_at_load(tmp_path: Path, builtin: str) -> None:
    args = {"http.send": "{}", "rand.intn": '"x", 10', "uuid.rfc4122": '"x"'}.get(builtin, "")
    text = f"package team\n\nimport rego.v1\n\ndeny contains x if {{\n\tx := {builtin}({args})\n}}\n"
    modules = modules_from_path(_policy(tmp_path, text))
    with pytest.raises(PolicyLoadError) as caught:
        check_builtins(modules, backend="embedded")
    assert f"`{builtin}` (column 7) is not allowed in a policy" in str(caught.value)
    assert caught.value.location is not None
    assert caught.value.location.line == 6


def test_a_named_opt_in_allows_a_builtin_the_engine_can_evaluate(tmp_path: Path) -> None:
    text = "package team\n\nimport rego.v1\n\ndeny contains x if {\n\tx := time.now_ns()\n\tx < 0\n}\n"
    modules = modules_from_path(_policy(tmp_path, text))
    check_builtins(modules, ["time.now_ns"], backend="embedded")
    http = "package team\n\nimport rego.v1\n\ndeny contains x if {\n\tx := http.send({})\n}\n"
    modules = modules_from_path(_policy(tmp_path, http))
    with pytest.raises(PolicyLoadError, match="embedded engine cannot evaluate it"):
        check_builtins(modules, ["http.send"], backend="embedded")
    check_builtins(modules, ["http.send"], backend="opa")


def test_the_checker_refuses_a_policy_calling_http_send(tmp_path: Path) -> None:
    v0 = 'package team\n\ndeny[msg] { http.send({"method": "get", "url": "http://10.0.0.1"}); msg := "x" }\n'
    with pytest.raises(PolicyLoadError, match=r"`http\.send`"):
        _checker(tmp_path, v0)


def test_opa_capabilities_leave_out_the_refused_builtins() -> None:
    builtins = [{"name": "http.send"}, {"name": "count"}, {"name": "time.now_ns"}]
    current: dict[str, Any] = {"builtins": builtins}
    names = [b["name"] for b in opa_capabilities(current, ["time.now_ns"])["builtins"]]
    assert names == ["count", "time.now_ns"]
    assert "http.send" in REFUSED_BUILTINS


def test_a_policy_set_with_no_rule_for_the_stage_is_an_error(tmp_path: Path, example_evidence) -> None:  # type: ignore[no-untyped-def]
    from govern.engine.errors import ConfigError

    only_helpers = "package team\n\nimport rego.v1\n\nhelper := 1\n"
    spec = load_spec(SPEC)
    source = PolicySource(path=_policy(tmp_path, only_helpers), rego_version=RegoVersion.V1)
    policy_set = make_policy_set(load_policy_set(spec, [source], builtin=False).modules)
    with pytest.raises(ConfigError, match="no deny or warn rule that applies at stage deploy"):
        Checker.for_spec(spec, policy_set, create_backend("embedded")).decide(
            evidence_from_value(example_evidence), today=TODAY
        )
    empty = Checker.for_spec(spec, policy_set, create_backend("embedded"), allow_empty=True)
    assert empty.decide(evidence_from_value(example_evidence), today=TODAY).results == ()


OPA_BIN = os.environ.get("GOVERN_OPA_BIN")
needs_opa = pytest.mark.skipif(not OPA_BIN, reason="GOVERN_OPA_BIN is not set (tools/opa/build.sh builds it)")

# (reference, govern accepts it, opa check --schema accepts it)
AGREEMENT = [
    ("input.bias_score", False, False),
    ("input.spec.metadata", True, True),
    ("input.stage", True, True),
    ("input.run.metrics.bias_score", True, True),
    ("input.fairness.features[f].metrics.accuracy.by_group.female", True, True),
    ('input.data.drift["capital-gain"].psi', True, True),
    ("input.explanations.global_importance[0].share", True, True),
    ("input.live.metrics.accuracy", True, True),
    # OPA's schema checker gives up below a oneOf (every nullable section) and below array items
    # and open-map values; govern follows them: stricter, never looser.
    ("input.live.window_size", False, True),
    ("input.explanations.global_importance[0].rank", False, True),
    ("input.run.datasets[0].contxt", False, True),
    ("input.fairness.features[f].demographic_parity_diff", False, True),
]


def _opa_check(target: Path, schema: Path) -> subprocess.CompletedProcess[str]:
    assert OPA_BIN is not None
    command = [OPA_BIN, "check", "--strict", "--schema", str(schema), str(target)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@needs_opa
def test_opa_check_with_the_schema_agrees_on_the_builtin_library(tmp_path: Path) -> None:
    schema = tmp_path / "input.json"
    schema.write_text(json.dumps(opa_input_schema()), encoding="utf-8")
    proc = _opa_check(Path(__file__).resolve().parents[1] / "policies", schema)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_policy_set(load_policy_set(None)) > 0  # govern: clean too


@needs_opa
@pytest.mark.parametrize(("expression", "ours_ok", "opa_ok"), AGREEMENT)
def test_opa_check_agrees(tmp_path: Path, expression: str, ours_ok: bool, opa_ok: bool) -> None:
    """Whatever `opa check --schema` refuses, govern refuses too; govern also checks below
    nullable sections, list items and open-map values, where OPA's checker stops."""
    schema = tmp_path / "input.json"
    schema.write_text(json.dumps(opa_input_schema()), encoding="utf-8")
    some = "\tsome f\n" if "[f]" in expression else ""
    text = f"package team\n\nimport rego.v1\n\ndeny contains 1 if {{\n{some}\t{expression}\n}}\n"
    folder = _policy(tmp_path, text)
    ours = _problems(tmp_path, text) == []
    theirs = _opa_check(folder, schema)
    assert ours is ours_ok
    assert (theirs.returncode == 0) is opa_ok, theirs.stdout + theirs.stderr
